"""Reading a CloudFormation template (JSON or YAML with the short tags `!Ref`, `!GetAtt`, `!Sub`, ...) into plain
Python values, the intrinsic functions in their long form (`{"Fn::GetAtt": ["Segment", "SegmentId"]}`).

cfn-lint's decoder (CloudFormation's reading of YAML: `!GetAtt A.B` becomes `["A", "B"]`, duplicate keys are
refused) is used when it is installed (the `infra` extra); otherwise PyYAML's safe loader with the same short tags.
"""

from __future__ import annotations

import datetime
import json
from pathlib import Path
from typing import Any


class TemplateError(ValueError):
    """The file is not a CloudFormation template this command can read."""


def load_template(path: Path) -> dict[str, Any]:
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise TemplateError(f"{path}: {exc.strerror or exc}") from None
    try:
        template = loads(text, yaml=not text.lstrip().startswith("{"))
    except Exception as exc:  # each decoder has its own error types; all mean "cannot read this file"
        raise TemplateError(f"{path}: not a readable template: {exc}") from None
    if not isinstance(template, dict) or not isinstance(template.get("Resources"), dict):
        raise TemplateError(f"{path}: a CloudFormation template needs a Resources section")
    return template


def loads(text: str, yaml: bool) -> Any:
    try:
        from cfnlint.decode import cfn_json, cfn_yaml
    except ImportError:
        return plain(yaml_loads(text)) if yaml else json.loads(text)
    return plain(cfn_yaml.loads(text) if yaml else cfn_json.loads(text))


def yaml_loads(text: str) -> Any:
    """PyYAML's safe loader with CloudFormation's short tags. Like CloudFormation (and cfn-lint) it reads YAML 1.1:
    an unquoted `21:00` is the number 1260, which is why templates quote times of day."""
    import yaml

    class Loader(yaml.SafeLoader):
        pass

    def short_tag(loader: yaml.SafeLoader, suffix: str, node: yaml.Node) -> dict[str, Any]:
        value: Any
        if isinstance(node, yaml.ScalarNode):
            value = loader.construct_scalar(node)
        elif isinstance(node, yaml.SequenceNode):
            value = loader.construct_sequence(node, deep=True)
        else:
            value = loader.construct_mapping(node, deep=True)
        name = suffix if suffix in ("Ref", "Condition") else f"Fn::{suffix}"
        if name == "Fn::GetAtt" and isinstance(value, str):
            value = value.split(".", 1)
        return {name: value}

    Loader.add_multi_constructor("!", short_tag)
    return yaml.load(text, Loader=Loader)  # noqa: S506 - a SafeLoader subclass


def plain(value: Any) -> Any:
    """dicts, lists, strings, numbers and booleans only (the decoders' node classes and YAML dates go)."""
    if isinstance(value, dict):
        return {str(k): plain(v) for k, v in value.items()}
    if isinstance(value, list):
        return [plain(v) for v in value]
    if isinstance(value, bool):
        return bool(value)
    if isinstance(value, int):
        return int(value)
    if isinstance(value, float):
        return float(value)
    if isinstance(value, datetime.date):  # datetime too: CloudFormation reads 2026-12-01 as a string
        return value.isoformat()
    if isinstance(value, str):
        return str(value)
    return value
