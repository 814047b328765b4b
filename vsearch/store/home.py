"""Where collections live: --home, else $VSEARCH_HOME, else ./indexes."""
from __future__ import annotations

import os
from pathlib import Path

from ..errors import AmbiguousCollectionError, CollectionNotFoundError

MANIFEST = "manifest.json"


def index_home(home: str | Path | None = None) -> Path:
    return Path(home or os.environ.get("VSEARCH_HOME") or "indexes").expanduser()


def list_collections(home: str | Path | None = None) -> list[str]:
    h = index_home(home)
    if not h.is_dir():
        return []
    return sorted(p.name for p in h.iterdir() if (p / MANIFEST).is_file())


def pick_collection(name: str | None, home: str | Path | None = None) -> str:
    """The named collection, or the only one; a clear error otherwise."""
    names = list_collections(home)
    if name:
        if name not in names:
            raise CollectionNotFoundError(
                f"no collection {name!r} under {index_home(home)} (have: {', '.join(names) or 'none'}); "
                f"create it with `vsearch ingest <folder> --collection {name}`")
        return name
    if not names:
        raise CollectionNotFoundError(f"no collection under {index_home(home)}; create one with `vsearch ingest <folder>`")
    if len(names) > 1:
        raise AmbiguousCollectionError(f"several collections under {index_home(home)}: {', '.join(names)}; pick one with --collection")
    return names[0]
