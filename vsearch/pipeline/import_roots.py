"""What an import may read: the folders the user names, never what the rows say.

A collection's roots are the folders its files may be read from (thumbnails, reranking from files,
a repair's walk; search/browse.py serves only files that resolve inside one). An ingest's root is
the folder it was given. An import's are the `--root` folders (repeatable), by default the folder
holding SOURCE (where its relative paths start). Each row must lie inside one of them:
- a path that can never name a file (a NUL, a name over 255 bytes, a path over 4096 bytes) is
  refused (store/names.py path_problem);
- a path outside every root is refused (`/etc/passwd`, `../../x`, `/proc/self/environ`);
- a path inside a root whose file is a link to something outside the roots is refused too.
Refused rows are counted and sampled with their reason in the summary; the rest is imported.
The root stored for the rows of one allowed folder is the folder their paths share (never wider
than the allowed folder, links resolved), or an existing root of the collection holding it.
"""
from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path

from ..errors import InvalidOptionError
from ..store.names import path_problem

OUTSIDE = "outside the folders this import may read (the folder holding the source, or --root)"
LINK_OUTSIDE = "a link to a file outside the folders this import may read"


def _inside(path: str, folder: str) -> bool:
    return path == folder or path.startswith(folder.rstrip("/") + "/")


@dataclass
class _Allowed:
    given: str   # absolute and normalised, as the user wrote it
    real: str    # links resolved
    common: str | None = None  # the folder the accepted rows under it share (unresolved)


@dataclass
class ImportRoots:
    allowed: list[_Allowed]
    refused: int = 0
    samples: list[dict[str, str]] = field(default_factory=list)

    @classmethod
    def of(cls, roots: list[str | Path] | None, source_folder: Path) -> "ImportRoots":
        folders = [Path(r).expanduser() for r in roots] if roots else [Path(source_folder)]
        allowed = []
        for f in folders:
            text = str(f)
            if path_problem(text) is not None:
                raise InvalidOptionError(f"--root {text[:60]!r} is not a folder path ({path_problem(text)})")
            given = os.path.normpath(os.path.abspath(text))
            allowed.append(_Allowed(given, os.path.realpath(given)))
        # deepest first: a row belongs to the innermost folder that holds it
        return cls(sorted(allowed, key=lambda a: len(a.real), reverse=True))

    @property
    def shown(self) -> list[str]:
        return [a.real for a in self.allowed]

    def which(self, path: str) -> int | None:
        """The allowed folder (its index) an absolute, normalised row path may be read from; None
        (and the row counted refused, with its reason) when it may not."""
        why = path_problem(path)
        at = None
        if why is None:
            at = next((i for i, a in enumerate(self.allowed) if _inside(path, a.given) or _inside(path, a.real)), None)
            why = OUTSIDE if at is None else None
        if why is None and os.path.lexists(path):
            real = os.path.realpath(path)
            if not any(_inside(real, a.real) for a in self.allowed):
                at, why = None, LINK_OUTSIDE
        if why is not None:
            self.refused += 1
            if len(self.samples) < 20:
                self.samples.append({"path": path[:300], "reason": why})
        return at

    def note(self, at: int, path: str) -> None:
        """Widen the common folder of allowed folder `at`'s rows to hold `path` (check pass)."""
        a = self.allowed[at]
        folder = os.path.dirname(path)
        a.common = folder if a.common is None else os.path.commonpath([a.common, folder])

    def placement(self, at: int, roots: list[str]) -> tuple[str, str, str]:
        """(stored root, prefix of the rows' paths under it, the folder row paths are relative to)
        for the rows of allowed folder `at`: the deepest existing root of the collection holding
        their common folder, else that folder itself, never outside the allowed folder."""
        a = self.allowed[at]
        base = a.common or a.given
        real = os.path.realpath(base)
        if not _inside(real, a.real):  # a link on the way out of the allowed folder: stay at it
            base = a.given if _inside(base, a.given) else a.real
            real = a.real
        for r in sorted(roots, key=len, reverse=True):
            if _inside(real, r):
                return r, (os.path.relpath(real, r) if real != r else ""), base
        return real, "", base

    def nothing_allowed(self, rows: int, common: str | None) -> str:
        where = f"; they lie under {common[:200]}: add `--root {common[:200]}` if vsearch may read there" if common else ""
        return (f"none of the {rows} rows lies inside the folders this import may read "
                f"({', '.join(self.shown)}){where}")
