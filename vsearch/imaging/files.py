"""Reading an image file's bytes: only regular files, only up to a size cap.

A folder nobody curated can hold a FIFO named `x.jpg` (a plain `read_bytes()` blocks forever), a
link to `/dev/zero` (reads until memory runs out) or a 40 GB video renamed `.jpg`. The path is
stat'ed first so that nothing but a regular file is ever opened, then opened non-blocking and
fstat'ed again, which is the check that counts (the path can be swapped between the two calls).
"""
from __future__ import annotations

import errno
import io
import math
import os
import stat

from .errors import EmptyFileError, FileTooLargeError, NotRegularFileError, UnreadableFileError

# The whole file is held in memory (it is hashed, then decoded from memory), once per decode worker.
# 512 MiB admits an uncompressed 8-bit RGB TIFF at nearly the 180-megapixel cap and the largest
# camera files by far (a 100 MP JPEG is ~60 MB), and bounds two workers to ~1 GB of file bytes.
DEFAULT_MAX_BYTES = 512 * 1024 * 1024

_OPEN_FLAGS = os.O_RDONLY | os.O_NONBLOCK | getattr(os, "O_CLOEXEC", 0) | getattr(os, "O_NOCTTY", 0)
_KINDS = ((stat.S_ISDIR, "directory"), (stat.S_ISFIFO, "fifo"), (stat.S_ISCHR, "character device"),
          (stat.S_ISBLK, "block device"), (stat.S_ISSOCK, "socket"))
_OS_REASONS = {errno.ENOENT: "no such file (deleted, or a broken link)", errno.EACCES: "permission denied",
               errno.EPERM: "permission denied", errno.ELOOP: "symlink loop", errno.ENAMETOOLONG: "name too long",
               errno.ENOTDIR: "a folder in its path is not a folder", errno.EIO: "I/O error"}


def human_bytes(n: int, round_up: bool = False) -> str:
    """1,234 bytes / 12.1 KB / 512.0 MB; round_up for a size compared with a limit, so that one
    byte over a limit never reads as equal to it."""
    if n < 1024:
        return f"{n:,} bytes"
    for unit in ("KB", "MB", "GB"):
        n /= 1024
        if n < 1024 or unit == "GB":
            return f"{(math.ceil(n * 10) / 10 if round_up else n):,.1f} {unit}"
    raise AssertionError  # unreachable


def _kind(mode: int) -> str:
    return next((name for test, name in _KINDS if test(mode)), "not a file")


def _os_reason(e: OSError) -> str:
    return "unreadable: " + _OS_REASONS.get(e.errno, (e.strerror or type(e).__name__).lower())


def _check(st: os.stat_result, max_bytes: int) -> None:
    if not stat.S_ISREG(st.st_mode):
        raise NotRegularFileError(f"not a regular file ({_kind(st.st_mode)})")
    if st.st_size > max_bytes:
        raise FileTooLargeError(f"too large: {human_bytes(st.st_size, True)} exceeds the {human_bytes(max_bytes)} limit")
    if st.st_size == 0:
        raise EmptyFileError("empty file (0 bytes)")


def open_regular(path: str | os.PathLike, max_bytes: int = DEFAULT_MAX_BYTES) -> io.BufferedReader:
    """An open binary file, checked (by its descriptor) to be a regular file of 1 to `max_bytes`
    bytes; an ImageError whose reason says why not. For readers that stream (videos)."""
    try:
        _check(os.stat(path), max_bytes)  # a FIFO or device is refused without being opened
        fd = os.open(path, _OPEN_FLAGS)
    except OSError as e:
        raise UnreadableFileError(_os_reason(e)) from None
    try:
        _check(os.fstat(fd), max_bytes)
        return os.fdopen(fd, "rb")
    except OSError as e:
        os.close(fd)
        raise UnreadableFileError(_os_reason(e)) from None
    except BaseException:
        os.close(fd)
        raise


def read_file_bytes(path: str | os.PathLike, max_bytes: int = DEFAULT_MAX_BYTES) -> bytes:
    """The bytes of a regular file of at most `max_bytes`, or an ImageError whose reason says why not
    (NotRegularFileError, FileTooLargeError, EmptyFileError, UnreadableFileError)."""
    with open_regular(path, max_bytes) as f:
        try:
            size = os.fstat(f.fileno()).st_size
            data = f.read(size + 1)  # one byte more than stat said: notices a file still being written
        except OSError as e:
            raise UnreadableFileError(_os_reason(e)) from None
    if len(data) > size:
        raise UnreadableFileError("unreadable: the file grew while being read (still being written?)")
    if not data:
        raise EmptyFileError("empty file (0 bytes)")
    return data
