"""moto 5.2.5's server finds each request's backend and action by scanning: local mode remembers what it found.

What moto does: `DomainDispatcherApplication.get_application` turns a request into a host name
("sqs.us-east-1.amazonaws.com", "dynamodb", ...: `infer_service_region_host` reads it off the SigV4 credential
scope, the X-Amz-Target header and the path, a few string operations) and then hands that host to
`get_backend_for_host`, which lists moto's package directory (`os.listdir` and an `isdir` for each of its ~200
service folders) and then tries the URL regexes of every service in `moto.backend_index` until one matches. That
costs 0.5 ms (DynamoDB, found early in the folder listing) to 3.6 ms (S3, after every folder and most regexes) per
request, and moto holds the dispatcher's one lock while it does it: every AWS call of every local thread queues
behind the scan.

Why the patch keeps behaviour: `get_backend_for_host` is a pure function of the host string - the folder listing
and the regex table are fixed once moto is imported - so its answer for a host is computed once and remembered.
The host is still inferred for every request exactly as moto does (that part is cheap and depends on the request),
and a host moto finds no backend for is not remembered (moto then prints its hint and falls back as before). The
host names come from service and region names, so the cache stays small; it is bounded all the same.

The action, too: `BaseResponse.call_action` asks `method_names_from_class(type(self))` whether the request's action
names a method, and that runs `inspect.getmembers` over the response class (hundreds of attributes, each fetched
and tested) on every request. The answer depends on the class alone - moto defines its response classes once and
never adds methods to them at run time (local mode patches backends, not response classes) - so it is computed
once per class. Callers only test membership in the list; they get the same list.
"""

from __future__ import annotations

import functools
from typing import Any

import moto
import moto.core.responses as moto_responses
from moto.moto_server.werkzeug_app import DomainDispatcherApplication

MOTO_VERSIONS = ("5.2.",)  # the versions whose dispatcher and call_action this was checked against
_MAX_HOSTS = 4096


def cache_dispatch() -> None:
    """Installs both caches (every moto server in the process). Idempotent."""
    if not moto.__version__.startswith(MOTO_VERSIONS):
        raise RuntimeError(
            f"kizuna.local.moto_dispatch: moto {moto.__version__} is installed, but the caches were checked against "
            f"moto {' / '.join(v + 'x' for v in MOTO_VERSIONS)}: re-check that get_backend_for_host is a pure "
            "function of the host and method_names_from_class of the class"
        )
    _cache_backend_lookup()
    _cache_action_names()


def _cache_backend_lookup() -> None:
    method = getattr(DomainDispatcherApplication, "get_backend_for_host", None)
    if method is None or not callable(method):
        raise RuntimeError(
            "kizuna.local.moto_dispatch: moto's DomainDispatcherApplication has no get_backend_for_host any more "
            f"(moto {moto.__version__}); re-check the dispatcher before caching its lookups"
        )
    if getattr(method, "_kizuna_cached", False):
        return
    found: dict[str, Any] = {}

    def cached(self: Any, host: str | None) -> Any:
        if host is None:
            return None
        backend = found.get(host)
        if backend is None:
            backend = method(self, host)
            if backend and len(found) < _MAX_HOSTS:
                found[host] = backend
        return backend

    functools.update_wrapper(cached, method)
    cached._kizuna_cached = True  # type: ignore[attr-defined]
    cached._kizuna_hosts = found  # type: ignore[attr-defined]  # for the tests: what was remembered
    DomainDispatcherApplication.get_backend_for_host = cached  # type: ignore[method-assign]


def _cache_action_names() -> None:
    function = getattr(moto_responses, "method_names_from_class", None)
    if function is None or not callable(function):
        raise RuntimeError(
            "kizuna.local.moto_dispatch: moto.core.responses no longer calls method_names_from_class "
            f"(moto {moto.__version__}); re-check BaseResponse.call_action before caching its action lookup"
        )
    if getattr(function, "_kizuna_cached", False):
        return
    names: dict[type, list[str]] = {}

    def cached(clazz: Any) -> list[str]:
        if not isinstance(clazz, type):
            return function(clazz)  # moto passes a class; anything else is looked at every time, as before
        if clazz not in names:
            names[clazz] = function(clazz)
        return names[clazz]

    functools.update_wrapper(cached, function)
    cached._kizuna_cached = True  # type: ignore[attr-defined]
    moto_responses.method_names_from_class = cached  # type: ignore[assignment]
