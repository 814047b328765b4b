"""Bounds that the service itself applies: the body a request may send, and the work it may start
(searches run on a fixed pool of threads, each under the request's time limit)."""
from __future__ import annotations

import asyncio
import functools
from concurrent.futures import ThreadPoolExecutor
from typing import Any, Callable, TypeVar

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
    """Searches run here: on a fixed pool of `limits.search_threads` threads; the rest wait their
    turn within their request's time limit. A request that runs out of time is answered 504 at
    once: its search leaves the queue if it has not started, else finishes on its thread, so the
    number of threads (and of searches at work) never exceeds the pool's."""

    def __init__(self, limits: Limits):
        self.pool = ThreadPoolExecutor(max_workers=limits.search_threads, thread_name_prefix="vsearch-search")

    async def run(self, fn: Callable[..., T], *args: Any, **kwargs: Any) -> T:
        return await asyncio.get_running_loop().run_in_executor(self.pool, functools.partial(fn, *args, **kwargs))

    def close(self) -> None:
        self.pool.shutdown(wait=False, cancel_futures=True)
