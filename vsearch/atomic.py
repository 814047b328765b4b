"""Atomic file writes: the one way vsearch puts a file on disk.

A file is written under a temporary name in its destination folder, flushed and fsynced, then
renamed over the destination (and the folder fsynced), so a reader sees the old file or the new
one, never half of one, and a crash leaves at worst a temporary file that `remove_debris`
deletes. `durable=False` skips the fsyncs, for caches whose loss costs only time.

Tests inject faults at named points (as faiss contrib's `crash_at` does): `crash_points` maps a
point name to a callable run just before the rename; it may raise (an I/O error) or kill the
process (a crash). Every write names its point, e.g. "commit:images" or "shard".
"""
from __future__ import annotations

import os
import shutil
import tempfile
from pathlib import Path
from typing import Callable

TMP_PREFIX = ".tmp-"
# mkstemp makes files private (0600); finished files get the permissions a plain open() would.
_UMASK = os.umask(0o022)
os.umask(_UMASK)

# Fault injection for tests: {point name: callable(destination path)}. Empty in normal runs.
crash_points: dict[str, Callable[[Path], None]] = {}


def atomic_write(path: str | Path, content: bytes | Callable[[Path], object], *, point: str = "file",
                 durable: bool = True) -> Path:
    """Write `content` (bytes, or a function that writes to the temporary path it is given) to
    `path` atomically. Returns `path`."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp_name = tempfile.mkstemp(prefix=TMP_PREFIX + path.name + ".", dir=path.parent)
    os.close(fd)

    def fill(tmp: Path) -> None:
        if isinstance(content, (bytes, bytearray, memoryview)):
            tmp.write_bytes(content)
        else:
            content(tmp)
        if durable:
            _fsync_file(tmp)

    return _publish(Path(tmp_name), path, fill, 0o666, point, durable)


def atomic_folder(path: str | Path, writer: Callable[[Path], object], *, point: str = "folder") -> Path:
    """Write a folder atomically: `writer` fills a temporary folder (which it must create at the
    path it is given, and fsync), which is then renamed to `path`. A folder already at `path` is
    replaced, as a file would be: the caller names only what no reader uses (a generation not
    committed yet, left by a killed writer)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    if path.is_dir() and not path.is_symlink():
        shutil.rmtree(path)  # (not remove_path: a failure to clear it must stop the commit)
    tmp = Path(tempfile.mkdtemp(prefix=TMP_PREFIX + path.name + ".", dir=path.parent))
    tmp.rmdir()  # the writer creates it (FAISS-style savers refuse an existing folder)
    return _publish(tmp, path, writer, 0o777, point, durable=True)


def _publish(tmp: Path, path: Path, fill: Callable[[Path], object], mode: int, point: str, durable: bool) -> Path:
    """Fill `tmp`, give it the permissions a plain create would, run the crash point, rename it
    to `path`; on any failure remove `tmp` and re-raise."""
    try:
        fill(tmp)
        os.chmod(tmp, mode & ~_UMASK)
        hook = crash_points.get(point)
        if hook is not None:
            hook(path)
        os.replace(tmp, path)
    except BaseException:
        remove_path(tmp)
        raise
    if durable:
        _fsync_dir(path.parent)
    return path


def remove_debris(folder: str | Path) -> int:
    """Delete temporary files and folders a killed writer left in `folder` (not recursive);
    returns how many. Only call this while holding the folder's writer lock."""
    folder = Path(folder)
    n = 0
    if folder.is_dir():
        for p in folder.glob(TMP_PREFIX + "*"):
            remove_path(p)
            n += 1
    return n


def link_or_copy(src: Path, dst: Path) -> None:
    """Share a file that is never written again (a big index file another generation holds) by a
    hard link; across filesystems, copy it."""
    try:
        os.link(src, dst)
    except OSError:
        shutil.copyfile(src, dst)


def remove_path(p: Path) -> None:
    """Remove a file, a link or a whole folder (a link to a folder is removed, not followed)."""
    if p.is_dir() and not p.is_symlink():
        shutil.rmtree(p, ignore_errors=True)
    else:
        p.unlink(missing_ok=True)


def fsync_tree(folder: Path) -> None:
    """Flush every file directly in `folder`, then the folder itself."""
    for p in folder.iterdir():
        if p.is_file():
            _fsync_file(p)
    _fsync_dir(folder)


def _fsync_file(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _fsync_dir(folder: Path) -> None:
    try:
        fd = os.open(folder, os.O_RDONLY | os.O_DIRECTORY)
    except OSError:  # pragma: no cover - platforms without directory fds
        return
    try:
        os.fsync(fd)
    except OSError:  # pragma: no cover - some filesystems refuse fsync on directories
        pass
    finally:
        os.close(fd)
