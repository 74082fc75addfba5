"""Rendering Pinpoint message templates: Handlebars (pybars4) over an endpoint, as Pinpoint rendered them.

Pinpoint's templates are Handlebars.js (`{{User.UserAttributes.FirstName}}`, `{{#if}}`, `{{#each}}`, `{{else}}`,
`@index`, `this`). The variables are the endpoint's own document: `Address`, `ChannelType`, `Attributes.X`,
`User.UserId`, `User.UserAttributes.X`, `Demographic.X`, `Location.X`, `Metrics.X`.

Where pybars differs from Handlebars.js, the context is shaped so the output matches:
- A missing variable renders as "" (pybars raises for a missing dotted path): dicts answer a missing key with
  ABSENT, which is falsy, prints as "", and iterates nothing, so `{{#if}}` takes its `{{else}}` and `{{#each}}` too.
- Attribute values are lists; Handlebars.js prints an array comma-joined (`東京,大阪`), so lists do too.
- Whole numbers print without ".0" (Metrics are floats; JavaScript prints 3, not 3.0).
- pybars4 never HTML-escapes `{{ }}` output. SMS and voice need none; email HtmlPart would (not handled here).

Values are filled in this order: the endpoint's data, then per-send substitutions (they win), then the template's
DefaultSubstitutions for whatever is still empty.

Safety: pybars compiles a template into Python source and runs it, and it copies bracketed path segments into that
source unescaped: `{{[x'+__import__('os').system('...')+'y]}}` runs code. Templates come from API callers, so
every tag must pass a whitelist first (`_check_tags`): paths of word characters, dots, slashes and @, quoted strings
without quotes or backslashes inside, numbers, key=value arguments; no brackets, no partials. `compiled()` checks
too, so nothing reaches pybars unchecked.
"""

from __future__ import annotations

import json
import re
import threading
from collections.abc import Callable, Mapping, Sequence
from functools import lru_cache
from typing import Any

from pybars import Compiler, PybarsError

from kizuna.errors import BadRequest

Renderer = Callable[..., str]

MAX_TEMPLATE_CHARS = 100_000  # far above any SMS or voice body; an email HtmlPart stays well within a DynamoDB item
_BLOCK = re.compile(r"{{~?\s*([#/^])\s*([\w.@-]+)")
_TAG = re.compile(r"{{(.*?)}}", re.DOTALL)
_ARG = r"""(?:[\w-]+=)?(?:@?[\w./-]+|"[^"\\\r\n]*"|'[^'\\\r\n]*'|-?\d+(?:\.\d+)?)"""
_SAFE_TAG = re.compile(rf"^\{{?~?\s*(?:!.*|(?:[#^/&]\s*)?(?:{_ARG}(?:\s+{_ARG})*)?)\s*~?\}}?$", re.DOTALL)
_compile_lock = threading.Lock()  # pybars' grammar builder is shared class state


class _Absent:
    """A missing value: falsy, prints as "", and has no members (so `{{a.b.c}}` of a missing `a` is absent too)."""

    __slots__ = ()

    def __bool__(self) -> bool:
        return False

    def __str__(self) -> str:
        return ""

    def __getitem__(self, _key: Any) -> _Absent:
        return self

    def __iter__(self):
        return iter(())

    def __len__(self) -> int:
        return 0


ABSENT = _Absent()


class _Context(dict):
    def __missing__(self, _key: str) -> _Absent:
        return ABSENT


class _Values(list):
    def __str__(self) -> str:  # JavaScript's Array.prototype.toString
        return ",".join(str(v) for v in self)

    def __getitem__(self, key: Any) -> Any:  # `{{Attributes.City.0}}` reads an element; any other member is absent
        if isinstance(key, str):
            return super().__getitem__(int(key)) if key.isdigit() and int(key) < len(self) else ABSENT
        return super().__getitem__(key)


# Scalars answer any member with ABSENT too, so a path through them (`{{Address.Deep}}`) renders "" as in JS.
class _Text(str):
    def __getitem__(self, key: Any) -> Any:
        return ABSENT if isinstance(key, str) else super().__getitem__(key)


class _Int(int):
    def __getitem__(self, _key: Any) -> _Absent:
        return ABSENT


class _Float(float):
    def __getitem__(self, _key: Any) -> _Absent:
        return ABSENT

    def __str__(self) -> str:
        return repr(float(self))


class _Flag:
    __slots__ = ("value",)

    def __init__(self, value: bool) -> None:
        self.value = value

    def __bool__(self) -> bool:
        return self.value

    def __str__(self) -> str:
        return "true" if self.value else "false"

    def __getitem__(self, _key: Any) -> _Absent:
        return ABSENT


def render(
    source: str,
    endpoint: Mapping[str, Any],
    defaults: Mapping[str, str] | None = None,
    substitutions: Mapping[str, Sequence[str]] | None = None,
) -> str:
    """The template rendered for one endpoint. `defaults` are DefaultSubstitutions (dotted path → value),
    `substitutions` per-send values (dotted path → list of values, as Pinpoint's Substitutions maps)."""
    context = _shape(endpoint)
    for path, values in (substitutions or {}).items():
        _put(context, path, _shape(list(values)))
    for path, value in (defaults or {}).items():
        if not _get(context, path):
            _put(context, path, _Text(value))
    return compiled(source)(context, helpers=_HELPERS)


def check_template(source: Any, field: str) -> None:
    """Refuse a template that is not a string, too long, or not well-formed Handlebars, naming the field."""
    if not isinstance(source, str):
        raise BadRequest(f"{field} must be a string")
    if len(source) > MAX_TEMPLATE_CHARS:
        raise BadRequest(f"{field} is {len(source)} characters; the limit is {MAX_TEMPLATE_CHARS}")
    if source.count("{{") != source.count("}}"):
        raise BadRequest(f"{field}: unbalanced {{{{ and }}}}")
    unsafe = _unsafe_tag(source)
    if unsafe is not None:
        raise BadRequest(f"{field}: {{{{{unsafe[:40]}}}}} is not a variable, block or helper Kizuna accepts")
    open_blocks: list[str] = []
    for kind, name in _BLOCK.findall(source):
        if kind in "#^":
            open_blocks.append(name)
        elif not open_blocks or open_blocks.pop() != name:
            raise BadRequest(f"{field}: {{{{/{name}}}}} closes a block that is not open")
    if open_blocks:
        raise BadRequest(f"{field}: {{{{#{open_blocks[-1]}}}}} is never closed")
    try:
        compiled(source)
    except (PybarsError, Exception) as exc:  # PyMeta raises its own ParseError for malformed expressions
        raise BadRequest(f"{field} is not a valid template: {type(exc).__name__}") from None


def parse_defaults(text: Any, field: str) -> dict[str, str]:
    """DefaultSubstitutions: a JSON object of variable path → default value (a string)."""
    if text is None or text == "":
        return {}
    if not isinstance(text, str):
        raise BadRequest(f"{field} must be a string holding a JSON object")
    try:
        parsed = json.loads(text)
    except json.JSONDecodeError:
        raise BadRequest(f"{field} is not valid JSON") from None
    if not isinstance(parsed, dict) or not all(isinstance(v, str) for v in parsed.values()):
        raise BadRequest(f'{field} must be a JSON object of strings, e.g. {{"User.UserAttributes.FirstName": "there"}}')
    return parsed


@lru_cache(maxsize=1024)
def compiled(source: str) -> Renderer:
    """Compile once per distinct template text (about 2 ms); rendering then takes tens of microseconds."""
    unsafe = _unsafe_tag(source)
    if unsafe is not None or source.count("{{") != source.count("}}"):
        raise BadRequest(f"template tag {{{{{(unsafe or '')[:40]}}}}} is not accepted")
    with _compile_lock:
        return Compiler().compile(source)


def _unsafe_tag(source: str) -> str | None:
    """The first tag outside the whitelist (see the module docstring), or None."""
    for match in _TAG.finditer(source):
        inner = match.group(1)
        if not _SAFE_TAG.match(inner):
            return inner
    return None


def _missing_helper(_this: Any, *_args: Any) -> str:
    return ""


_HELPERS = {"helperMissing": _missing_helper}


def _shape(value: Any) -> Any:
    if isinstance(value, Mapping):
        return _Context({str(k): _shape(v) for k, v in value.items()})
    if isinstance(value, list | tuple):
        return _Values(_shape(v) for v in value)
    if value is None:
        return ABSENT
    if isinstance(value, bool):
        return _Flag(value)
    if isinstance(value, float):
        return _Int(value) if value.is_integer() else _Float(value)
    if isinstance(value, int):
        return _Int(value)
    if isinstance(value, str):
        return _Text(value)
    return value


def _get(context: _Context, path: str) -> Any:
    value: Any = context
    for part in path.split("."):
        value = value[part] if hasattr(value, "__getitem__") and not isinstance(value, str) else ABSENT
    return value


def _put(context: _Context, path: str, value: Any) -> None:
    *parents, leaf = path.split(".")
    node = context
    for part in parents:
        child = node.get(part)
        if not isinstance(child, _Context):
            child = node[part] = _Context()
        node = child
    node[leaf] = value
