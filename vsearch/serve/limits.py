"""Bounds that the service itself applies: the body a request may send, and the work it may start
(searches run on a bounded pool of threads, each under the request's time limit)."""
from __future__ import annotations

import functools
from typing import Any, Callable, TypeVar

import anyio
from fastapi import HTTPException

from .config import Limits

T = TypeVar("T")


class BodyTooLarge(HTTPException):
    """Raised while the body is read, so it stops at the limit, whatever Content-Length said.
    (A FastAPI HTTPException: FastAPI lets those through its body parsing unchanged.)"""

    def __init__(self, limit: int):
        super().__init__(413, f"request body larger than {limit:,} bytes; send a smaller image (at most "
                              f"{limit * 3 // 4 // (1 << 20)} MB) or a shorter query")


def declared_length(scope: dict) -> int | None:
    for name, value in scope.get("headers", ()):
        if name == b"content-length":
            try:
                return int(value)
            except ValueError:
                return None
    return None


def limited(receive: Callable, limit: int) -> Callable:
    """`receive` that raises BodyTooLarge once more than `limit` body bytes arrive."""
    seen = 0

    async def receive_limited() -> dict:
        nonlocal seen
        message = await receive()
        if message["type"] == "http.request":
            seen += len(message.get("body", b""))
            if seen > limit:
                raise BodyTooLarge(limit)
        return message

    return receive_limited


class Workers:
    """Searches run here: at most `limits.search_threads` at once (the rest wait their turn within
    their time limit). A request that runs out of time is answered 504 at once; its search finishes
    in the background, still holding its place, so the pool stays bounded."""

    def __init__(self, limits: Limits):
        self.limiter = anyio.CapacityLimiter(limits.search_threads)

    async def run(self, fn: Callable[..., T], *args: Any, **kwargs: Any) -> T:
        return await anyio.to_thread.run_sync(functools.partial(fn, *args, **kwargs), limiter=self.limiter,
                                              abandon_on_cancel=True)
