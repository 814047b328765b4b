"""An image's thumbnail and (opt-in) its original file, and the URLs results give for them.

Both go through the library's browsing checks (search/browse.py): only files inside the
collection's roots, never through a link that points out of them, and a thumbnail only of a file
that still holds the content it is keyed by. URLs are absolute (a browser on another origin loads
them) and, when the server has a token, signed for their path (auth.py).
"""
from __future__ import annotations

import os
import stat
from pathlib import Path
from typing import Iterator
from urllib.parse import quote

from starlette.requests import Request
from starlette.responses import FileResponse, StreamingResponse

from ..errors import QueryError
from ..search import Collection
from .auth import Auth
from .config import THUMB_SIZES
from .errors import ApiError

DEFAULT_THUMB = 320


class Urls:
    def __init__(self, auth: Auth, public_url: str | None):
        self.auth = auth
        self.public_url = public_url.rstrip("/") if public_url else None

    def base(self, request: Request) -> str:
        if self.public_url:
            return self.public_url
        return f"{request.url.scheme}://{request.url.netloc}"

    def _url(self, base: str, path: str) -> str:
        sig = self.auth.sign(path)
        return base + quote(path) + (f"?sig={sig}" if sig else "")

    def thumbnail(self, base: str, collection: str, id_: int, size: int = DEFAULT_THUMB) -> str:
        suffix = "" if size == DEFAULT_THUMB else f"/{size}"
        return self._url(base, f"/v1/collections/{collection}/images/{id_}/thumbnail{suffix}")

    def file(self, base: str, collection: str, id_: int) -> str:
        return self._url(base, f"/v1/collections/{collection}/images/{id_}/file")


def thumbnail_response(col: Collection, id_: int, size: int) -> FileResponse:
    if size not in THUMB_SIZES:
        raise ApiError(422, f"thumbnail sizes are {', '.join(map(str, THUMB_SIZES))} (got {size})")
    try:
        path = col.thumbnail(id_, size)
    except QueryError as e:
        raise ApiError(404, str(e)) from None
    # Keyed by content id: the same URL always shows the same picture.
    return FileResponse(path, media_type="image/jpeg", headers={"Cache-Control": "private, max-age=86400"})


def file_response(col: Collection, id_: int, allowed: bool) -> StreamingResponse:
    if not allowed:
        raise ApiError(403, "this server does not serve original files; start it with --serve-files")
    try:
        path = col.file_path(id_)
    except QueryError as e:
        raise ApiError(404, str(e)) from None
    fd, size = _open_regular(path)
    # Sent as an attachment: a file is the owner's data, never a page of this origin.
    headers = {"Content-Length": str(size), "X-Content-Type-Options": "nosniff", "Cache-Control": "private, no-cache",
               "Content-Disposition": f"attachment; filename*=utf-8''{quote(path.name)}"}
    return StreamingResponse(_chunks(fd), media_type="application/octet-stream", headers=headers)


def _open_regular(path: Path) -> tuple[int, int]:
    """The file checked by the library, opened without following a link put in its place since
    (O_NOFOLLOW) and only if it is still a regular file (a FIFO never blocks the open)."""
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | getattr(os, "O_CLOEXEC", 0))
    except OSError:
        raise ApiError(404, "the file is gone or was replaced by a link; re-run `vsearch ingest`") from None
    st = os.fstat(fd)
    if not stat.S_ISREG(st.st_mode):
        os.close(fd)
        raise ApiError(404, "the file was replaced by something that is not a regular file")
    return fd, st.st_size


def _chunks(fd: int, size: int = 256 * 1024) -> Iterator[bytes]:
    try:
        while chunk := os.read(fd, size):
            yield chunk
    finally:
        os.close(fd)
