"""Powertools' event handler keeps the event being resolved on a class: `resolve` sets `BaseRouter.current_event`
(and `lambda_context`), and every route reads it back through `app.current_event`. Lambda runs one event at a time
per process, so that is safe there; local mode runs many handler invocations at once in one process, and the
separately imported handler modules of kizuna.local.functions do not separate a class attribute of the library.

Under the load run this crossed requests: a status callback was verified with its own event and then read another
request's query string (a callback for one message applied to another's id, or to none at all, answered 200 either
way). Local mode therefore has each resolver keep the event on the instance: the instance attribute shadows the class
attribute for every read through `self` (and through an included Router, which asks its resolver), and each
module instance serves one invocation at a time, as a Lambda execution environment does."""

from __future__ import annotations

import functools
from typing import Any

from aws_lambda_powertools.event_handler.api_gateway import ApiGatewayResolver
from aws_lambda_powertools.utilities.data_classes.common import BaseProxyEvent


def isolate_resolver_state() -> None:
    original = ApiGatewayResolver.resolve
    if getattr(original, "_kizuna_isolated", False):
        return

    @functools.wraps(original)
    def resolve(self: ApiGatewayResolver, event: Any, context: Any) -> dict[str, Any]:
        raw = event.raw_event if isinstance(event, BaseProxyEvent) else event
        self.current_event = self._to_proxy_event(raw)
        self.lambda_context = context
        return original(self, event, context)

    resolve._kizuna_isolated = True  # type: ignore[attr-defined]
    ApiGatewayResolver.resolve = resolve  # type: ignore[method-assign]
