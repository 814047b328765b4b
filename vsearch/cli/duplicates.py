"""`vsearch duplicates`."""
from __future__ import annotations

from pathlib import Path
from typing import Optional

import typer

from .common import CollOpt, HomeOpt, JsonOpt, handles_errors, out, print_json
from .render import duplicates_table


@handles_errors
def duplicates(
    threshold: Optional[float] = typer.Option(
        None, "--threshold", "-t", min=0.0, max=1.0,
        help="The cosine from which two photos' vectors say they are the same photo (when their thumbnails "
             "look alike too). Default: the one chosen on Flickr8k dev photos (0.86). Lower finds more "
             "bursts and series, higher fewer; re-saved, resized, re-toned copies and crops are found by "
             "their pixels whatever it is. From 0.75 (pairs under that are not kept)."),
    collection: Optional[str] = CollOpt,
    home: Optional[Path] = HomeOpt,
    as_json: bool = JsonOpt,
) -> None:
    """List groups of near-duplicate photos: copies, re-saves, resizes, crops and edits of one photo,
    and burst shots that are nearly the same picture. Each group shows its members (path, size,
    resolution, date, similarity to the keeper) and a suggested keeper, the original over its exports
    (larger picture, more metadata, earlier date, larger file), with the rule that decided. Nothing is
    ever deleted or moved."""
    from ..search import open_collection

    col = open_collection(collection, home)
    groups = col.duplicates(threshold)
    if as_json:
        print_json([g.to_dict() for g in groups])
    elif not groups:
        out.print("no near duplicates")
    else:
        out.print(duplicates_table(groups, col.store.manifest.roots))
        files = sum(len(g.members) for g in groups)
        out.print(f"{len(groups)} groups, {files} files ({files - len(groups)} beside their keepers); nothing was changed")
