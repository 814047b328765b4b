"""Failed writes as messages that say what to do: disk full, a read-only file system and a folder
without write permission are StorageErrors (one line, naming the folder and the way out); the
writer's atomic steps (vsearch/atomic.py) mean the collection is as it was before the command."""
from __future__ import annotations

import errno
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator

from ..errors import StorageError

_FULL = {errno.ENOSPC, getattr(errno, "EDQUOT", errno.ENOSPC)}
_DENIED = {errno.EACCES, errno.EPERM}


def storage_error(e: OSError, what: str, folder: Path, kept: str) -> StorageError:
    """A StorageError for `e`, raised while writing `what` into `folder`; `kept` says what is intact."""
    where = f"{what} in {folder}"
    if e.errno in _FULL:
        return StorageError(f"disk full while writing {where}: free some space (or move the index home with "
                            f"--home / $VSEARCH_HOME) and run the command again; {kept}")
    if e.errno == errno.EROFS:
        return StorageError(f"cannot write {where}: the file system is read-only; keep collections on a writable "
                            f"disk with --home DIR (or $VSEARCH_HOME); {kept}")
    if e.errno in _DENIED:
        return StorageError(f"cannot write {where}: permission denied; give yourself write access to {folder}, or "
                            f"keep collections elsewhere with --home DIR (or $VSEARCH_HOME); {kept}")
    return StorageError(f"cannot write {where}: {(e.strerror or str(e)).lower()}; check that folder, or keep "
                        f"collections elsewhere with --home DIR (or $VSEARCH_HOME); {kept}")


@contextmanager
def writing(what: str, folder: Path, kept: str = "the collection is unchanged") -> Iterator[None]:
    """Turn an OSError raised while writing into a StorageError."""
    try:
        yield
    except OSError as e:
        raise storage_error(e, what, Path(folder), kept) from e
