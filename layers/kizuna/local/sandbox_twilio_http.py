"""Sandbox Twilio: serving over real HTTP (werkzeug, a thread per request, no request log) on a daemon thread, and
Twilio's JSON responses, its errors (TwilioApiError) rendered in Twilio's error shape."""

from __future__ import annotations

import json
import threading
from collections.abc import Callable
from typing import Any

from werkzeug.serving import BaseWSGIServer, WSGIRequestHandler, make_server
from werkzeug.wrappers import Request, Response

from kizuna.local.sandbox_twilio_model import TwilioApiError

Route = Callable[[Request, dict[str, Any]], Response]


class _QuietHandler(WSGIRequestHandler):
    def log_request(self, code: int | str = "-", size: int | str = "-") -> None:
        pass


class HttpThread:
    """`route(request, environ)` served on a daemon thread: `bind` opens the socket (port 0: any free one), `serve`
    starts answering, `stop` closes it."""

    def __init__(self, route: Route, name: str) -> None:
        self._route, self._name = route, name
        self._server: BaseWSGIServer | None = None
        self._thread: threading.Thread | None = None

    @property
    def bound(self) -> bool:
        return self._server is not None

    def bind(self, host: str, port: int) -> int:
        self._server = make_server(host, port, self._wsgi, threaded=True, request_handler=_QuietHandler)
        return self._server.server_port

    def serve(self) -> None:
        assert self._server is not None
        self._thread = threading.Thread(
            target=self._server.serve_forever, kwargs={"poll_interval": 0.05}, name=self._name, daemon=True
        )
        self._thread.start()

    def stop(self) -> None:
        if self._server is None:
            return
        self._server.shutdown()
        self._server.server_close()
        if self._thread:
            self._thread.join(timeout=5)
        self._server = self._thread = None

    def _wsgi(self, environ: dict[str, Any], start_response: Any) -> Any:
        request = Request(environ)
        try:
            response = self._route(request, environ)
        except TwilioApiError as e:
            response = json_response(e.body(), e.status, e.headers)
        return response(environ, start_response)


def json_response(payload: dict[str, Any], status: int, headers: dict[str, str] | None = None) -> Response:
    return Response(json.dumps(payload), status=status, headers=headers, mimetype="application/json")
