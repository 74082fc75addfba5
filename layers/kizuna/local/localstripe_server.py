"""localstripe (PyPI) served in-process on 127.0.0.1 for local mode and tests, with request counting.

    with LocalStripe() as stripe_server:
        client = make_stripe_client("sk_test_local", stripe_server.base_url)
        stripe_server.register_webhook(url, secret)        # localstripe signs events like Stripe
        stripe_server.count("POST", "/v1/payment_intents/{id}/capture")

localstripe keeps one store per process (module globals), so one server runs at a time: start() flushes the
store and the webhook registrations and counts afresh; stop() closes its socket. Its habit of pickling the whole
store to /tmp on every POST is switched off (two test processes would write the same file). It ignores
idempotency keys; Kizuna must not depend on them.
"""

from __future__ import annotations

import asyncio
import re
import secrets
import threading
from collections import Counter
from types import TracebackType
from typing import Any

from aiohttp import web

_ID = re.compile(r"/(?:pi|ch|cus|pm|re|evt|seti|card|src)_[A-Za-z0-9]+")
_counts: Counter[tuple[str, str, int]] = Counter()
_counts_lock = threading.Lock()  # updated on localstripe's loop thread, read from any other


@web.middleware
async def _count(request: web.Request, handler: Any) -> web.StreamResponse:
    response = await handler(request)
    with _counts_lock:
        _counts[(request.method, _ID.sub("/{id}", request.path), response.status)] += 1
    return response


_event_loop: asyncio.AbstractEventLoop | None = None
_loop_lock = threading.Lock()


def _loop() -> asyncio.AbstractEventLoop:
    """localstripe's aiohttp app binds to the first loop that serves it, so one loop thread serves it for the life
    of the process; each LocalStripe opens and closes its own listening socket on it."""
    global _event_loop
    with _loop_lock:
        if _event_loop is None:
            _event_loop = asyncio.new_event_loop()
            threading.Thread(target=_event_loop.run_forever, name="localstripe", daemon=True).start()
        return _event_loop


class LocalStripe:
    def __init__(self, host: str = "127.0.0.1", port: int = 0) -> None:
        self.host, self.port = host, port
        self.api_key = "sk_test_" + secrets.token_hex(12)
        self._runner: web.AppRunner | None = None

    @property
    def base_url(self) -> str:
        return f"http://{self.host}:{self.port}"

    def start(self) -> str:
        import localstripe.server as server
        from localstripe import webhooks
        from localstripe.resources import store

        store.dump_to_disk = lambda: None  # type: ignore[method-assign]
        store.clear()
        webhooks._webhooks.clear()
        with _counts_lock:
            _counts.clear()
        if _count not in server.app.middlewares:
            server.app.middlewares.insert(0, _count)  # outermost (sees error responses); before the app freezes
        self._runner = web.AppRunner(server.app, access_log=None)

        async def serve() -> int:
            assert self._runner is not None
            await self._runner.setup()
            site = web.TCPSite(self._runner, self.host, self.port)
            await site.start()
            return site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]

        self.port = asyncio.run_coroutine_threadsafe(serve(), _loop()).result(timeout=10)
        return self.base_url

    def stop(self) -> None:
        if self._runner is not None:
            asyncio.run_coroutine_threadsafe(self._runner.cleanup(), _loop()).result(timeout=10)
            self._runner = None

    def __enter__(self) -> LocalStripe:
        self.start()
        return self

    def __exit__(self, *exc: type[BaseException] | BaseException | TracebackType | None) -> None:
        self.stop()

    def register_webhook(self, url: str, secret: str, name: str = "kizuna") -> None:
        """Stripe's webhook endpoint: localstripe POSTs every event to `url`, signed with `secret`."""
        from localstripe.webhooks import register_webhook

        register_webhook(name, url, secret, None)

    def count(self, method: str, path: str, status: int | None = None) -> int:
        """Requests localstripe answered, by method and path with ids as {id}; only `status` if given."""
        return sum(n for (m, p, s), n in self.requests().items() if m == method and p == path and status in (None, s))

    def requests(self) -> dict[tuple[str, str, int], int]:
        with _counts_lock:
            return dict(_counts)
