"""Local mode runs handler invocations concurrently in one process, each in its own module instance; Powertools'
resolver keeps the event being resolved on a class, so without kizuna.local.resolver_isolation a route reads the
event of whichever request was resolved last (the load run's status callback answered 200 for another request's
message id, or none)."""

from __future__ import annotations

import threading

from aws_lambda_powertools.event_handler import APIGatewayRestResolver

from kizuna.local.resolver_isolation import isolate_resolver_state


def _environment(entered: threading.Event, release: threading.Event) -> APIGatewayRestResolver:
    """One handler module's resolver: its route reads the query string after another request has been resolved."""
    app = APIGatewayRestResolver()

    @app.post("/webhooks/twilio/status")
    def status() -> dict:
        first = app.current_event.query_string_parameters.get("m")
        entered.set()
        release.wait(5)
        return {"first": first, "then": app.current_event.query_string_parameters.get("m")}

    return app


def _event(message_id: str) -> dict:
    return {
        "resource": "/{proxy+}", "path": "/webhooks/twilio/status", "httpMethod": "POST", "headers": {},
        "multiValueHeaders": {}, "queryStringParameters": {"m": message_id},
        "multiValueQueryStringParameters": {"m": [message_id]}, "requestContext": {"path": "/webhooks/twilio/status"},
        "body": "", "isBase64Encoded": False,
    }  # fmt: skip


def test_concurrent_invocations_each_read_their_own_event():
    isolate_resolver_state()
    entered, release, answers = threading.Event(), threading.Event(), {}
    not_waiting = threading.Event()
    not_waiting.set()
    slow, other = _environment(entered, release), _environment(threading.Event(), not_waiting)

    thread = threading.Thread(target=lambda: answers.setdefault("slow", slow.resolve(_event("m-slow"), None)))
    thread.start()
    assert entered.wait(5)
    other.resolve(_event("m-other"), None)  # another invocation, in another module instance, meanwhile
    release.set()
    thread.join(5)

    assert '"then":"m-slow"' in answers["slow"]["body"].replace(" ", "")
