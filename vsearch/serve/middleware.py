"""The one ASGI layer every HTTP request passes through (plain ASGI, no per-request task): it
times and counts the request (metrics.py), checks its credentials (auth.py), caps its body and
its time (limits.py), and answers those refusals itself as JSON."""
from __future__ import annotations

import time

import anyio

from .auth import Auth
from .errors import error_response, log
from .limits import BodyTooLarge, declared_length, limited
from .metrics import Metrics


class Guard:
    def __init__(self, app, auth: Auth, metrics: Metrics, max_body: int, timeout_s: float):
        self.app, self.auth, self.metrics = app, auth, metrics
        self.max_body, self.timeout_s = max_body, timeout_s

    async def __call__(self, scope, receive, send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        start = time.perf_counter()
        status = 500
        started = False

        async def send_tracked(message) -> None:
            nonlocal status, started
            if message["type"] == "http.response.start":
                status, started = message["status"], True
            await send(message)

        async def refuse(code: int, message: str, headers: dict[str, str] | None = None) -> None:
            if not started:
                await error_response(code, message, headers)(scope, receive, send_tracked)

        self.metrics.in_flight.inc()
        try:
            if not self.auth.allows(scope):
                await refuse(401, "missing or wrong token: send 'Authorization: Bearer TOKEN'", {"WWW-Authenticate": "Bearer"})
                return
            declared = declared_length(scope)
            if declared is not None and declared > self.max_body:
                await refuse(413, str(BodyTooLarge(self.max_body).detail))
                return
            try:
                with anyio.fail_after(self.timeout_s):
                    await self.app(scope, limited(receive, self.max_body), send_tracked)
            except TimeoutError:
                await refuse(504, f"the request took longer than {self.timeout_s:g} s and was stopped")
            except BodyTooLarge as e:  # raised outside FastAPI's handlers (e.g. a form being read)
                await refuse(413, str(e.detail))
            except Exception as e:  # a bug: the client gets one line, the log the traceback
                log.exception("internal error on %s %s", scope.get("method"), scope.get("path"))
                await refuse(500, f"internal error ({type(e).__name__}); the server's log has the details")
        finally:
            self.metrics.in_flight.dec()
            route = scope.get("route")
            self.metrics.observe(getattr(route, "path", "unmatched"), scope.get("method", ""), status,
                                 time.perf_counter() - start)
