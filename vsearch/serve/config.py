"""What `vsearch serve` is started with: one frozen config, built once at the CLI edge.

Every bound a request meets is here, with its default: bodies and uploads, k, query text, filters,
time, and how many searches run at once.
"""
from __future__ import annotations

import ipaddress
import os
from dataclasses import dataclass, field
from pathlib import Path

from ..errors import InvalidOptionError

MiB = 1 << 20
THUMB_SIZES = (160, 320, 640, 1280)   # the only sizes made (each is a file kept per image)


@dataclass(frozen=True)
class Limits:
    max_upload: int = 20 * MiB          # an image sent to search by (multipart or base64)
    max_k: int = 1000                   # k + offset of a /v1 query; clip-back's num_result_ids is clamped to it
    max_rerank_k: int = 128
    max_query_chars: int = 1000         # a text query (the text tower reads 64 tokens of it anyway)
    max_filter_chars: int = 4096        # a --where expression
    max_filter_values: int = 256        # folders or cameras in a structured filter
    max_ids: int = 1000                 # ids in one clip-back /metadata call
    timeout_s: float = 30.0             # a request, from its first byte to its response
    threads: int = 0                    # searches running at once (0: twice the CPU cores, 4 to 32)
    max_connections: int = 512          # concurrent connections before uvicorn answers 503

    @property
    def max_body(self) -> int:
        """Any request body: an upload in base64 (4/3 of its bytes) plus the rest of a JSON query."""
        return self.max_upload * 4 // 3 + MiB

    @property
    def search_threads(self) -> int:
        return self.threads or min(32, max(4, 2 * (os.cpu_count() or 2)))


@dataclass(frozen=True)
class ServeConfig:
    home: Path
    collections: tuple[str, ...] = ()   # empty: every collection of the home
    host: str = "127.0.0.1"
    port: int = 8000
    token: str | None = None            # bearer token every request must carry (but /healthz)
    insecure: bool = False              # bind a non-loopback address without a token, knowingly
    cors_origins: tuple[str, ...] = ()  # origins allowed to call from a browser ("*": any)
    serve_files: bool = False           # /v1/.../file serves the original files (inside the roots only)
    public_url: str | None = None       # how clients reach this server, for the URLs in results
    reload_every: float = 0.5           # seconds between checks for a newer generation
    text_cache: int = 1000              # text queries whose vectors are kept
    limits: Limits = field(default_factory=Limits)

    def check(self) -> None:
        """Refuse a configuration that would expose the collections by accident."""
        if not is_loopback(self.host) and not self.token and not self.insecure:
            raise InvalidOptionError(
                f"--host {self.host} is reachable from other machines: give --token SECRET (clients then send "
                f"'Authorization: Bearer SECRET'), or --insecure to serve without one")
        if self.token is not None and len(self.token) < 16:
            raise InvalidOptionError("--token must be at least 16 characters (e.g. `openssl rand -hex 16`)")
        if self.reload_every <= 0:
            raise InvalidOptionError("--reload-every must be more than 0 seconds")
        if self.text_cache < 0:
            raise InvalidOptionError("--text-cache must be 0 or more")


def is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False  # a host name other than localhost may resolve anywhere
