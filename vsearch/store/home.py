"""Where collections live: --home, else $VSEARCH_HOME, else ./indexes; and what a collection may be
called. A name is a folder directly under the home, so every command, the library and the UI take it
through `collection_folder` / `pick_collection`, which refuse anything that is not a plain name."""
from __future__ import annotations

import os
from pathlib import Path

from ..errors import AmbiguousCollectionError, CollectionNotFoundError, InvalidOptionError

MANIFEST = "manifest.json"
MAX_NAME = 100            # characters; a folder name must also fit the file system's 255 bytes
RESERVED = {"evals"}      # <home>/evals/ holds `vsearch eval` records
NAME_RULE = (f"a collection name is 1 to {MAX_NAME} characters: no '/' or '\\', no control characters, "
             f"not starting with '.', not {', '.join(sorted(RESERVED))}")


def index_home(home: str | Path | None = None) -> Path:
    return Path(home or os.environ.get("VSEARCH_HOME") or "indexes").expanduser()


def name_problem(name: object) -> str | None:
    """Why `name` cannot be a collection name (None when it can)."""
    from ..escape import for_terminal

    if not isinstance(name, str) or not name:
        return "it is empty"
    if len(name) > MAX_NAME or len(name.encode("utf-8", "surrogateescape")) > 255:
        return "it is too long"
    if "/" in name or "\\" in name or (os.altsep and os.altsep in name):
        return "it holds a path separator"
    if for_terminal(name) != name or "\0" in name:
        return "it holds control characters or bytes that are not text"
    if name.startswith("."):
        return "it starts with '.' (., .., hidden names)"
    if name != name.strip():
        return "it starts or ends with a space"
    if name.lower() in RESERVED:
        return "it is reserved"
    return None


def check_collection_name(name: object, hint: str = "give another with --collection") -> str:
    """`name` when it can name a collection; an InvalidOptionError saying what a name may be otherwise."""
    why = name_problem(name)
    if why is not None:
        from ..escape import for_terminal

        shown = for_terminal(str(name))
        shown = shown if len(shown) <= 60 else shown[:57] + "..."
        raise InvalidOptionError(f"{shown!r} cannot be a collection name ({why}): {NAME_RULE}; {hint}")
    return name


def collection_folder(home: str | Path | None, name: str) -> Path:
    """The folder of collection `name` under the home; the name checked first."""
    return index_home(home) / check_collection_name(name)


def list_collections(home: str | Path | None = None) -> list[str]:
    h = index_home(home)
    if not h.is_dir():
        return []
    return sorted(p.name for p in h.iterdir() if name_problem(p.name) is None and (p / MANIFEST).is_file())


def pick_collection(name: str | None, home: str | Path | None = None) -> str:
    """The named collection, or the only one; a clear error otherwise."""
    if name is not None:
        check_collection_name(name)
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
