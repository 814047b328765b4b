"""`vsearch import`."""
from __future__ import annotations

from pathlib import Path
from typing import Optional

import typer

from ..escape import for_terminal
from .common import HomeOpt, IndexOpt, JsonOpt, MaxMemoryOpt, bars, err, handles_errors, out, parse_size, print_json
from .ingest import timings_line


@handles_errors
def import_(
    source: Path = typer.Argument(..., help="clip-retrieval's output folder (img_emb/ and metadata/), or a Parquet file or "
                                       "folder with a path column (path or image_path) and a vector column (vector, "
                                       "embedding or emb)."),
    model: str = typer.Option(..., "--model", "-m",
                              help="The model that computed the vectors, e.g. align-lite or openclip:<arch>/<tag> "
                                   "(`vsearch models` lists them). Queries encode with it."),
    collection: Optional[str] = typer.Option(None, "--collection", "-c",
                                             help="Collection to create or add to (default: SOURCE's name)."),
    root: Optional[list[Path]] = typer.Option(None, "--root", metavar="DIR",
                                              help="A folder the rows' photos may be read from (repeatable; default: the "
                                                   "folder holding SOURCE). Rows outside every --root are not imported."),
    home: Optional[Path] = HomeOpt,
    index: Optional[str] = IndexOpt,
    max_index_memory: Optional[str] = MaxMemoryOpt,
    as_json: bool = JsonOpt,
) -> None:
    """Make a collection from image embeddings computed elsewhere, to search it like an ingested one.

    \b
      vsearch import ./embeddings --model align-lite
      vsearch query "a red bicycle" --collection embeddings

    Vectors must be of the named model (same width); they are normalised. Relative paths are taken
    relative to the folder holding SOURCE. Only rows inside the folders the import may read are
    imported: --root DIR (repeatable), by default the folder holding SOURCE; the others are counted
    as refused, with their reason (a collection never reads outside the folders you name). Photos found on this machine get the same ids an ingest
    gives them (thumbnails work, a later `vsearch ingest` of their folder encodes nothing twice),
    and a few are encoded now to check the vectors really are the model's: the import is refused
    when they are not. Importing the same rows again changes nothing. Nothing is written until every
    row has been checked."""
    from ..models import resolve
    from ..pipeline.importing import import_embeddings

    resolve(model)  # an unknown model name fails now
    if not source.exists():
        raise typer.BadParameter(f"{source} does not exist", param_hint="SOURCE")
    with bars(not as_json) as progress:
        s = import_embeddings(source, model, collection, home, index, parse_size(max_index_memory), progress=progress,
                              roots=root or None)
    if as_json:
        print_json(s.to_json())
        return
    for line in s.repaired:
        err.print(f"repaired: {for_terminal(line)}")
    check = s.check
    checked = (f"checked on {check['sample']} photos (mean cosine {check['mean_cosine']:.3f})" if check.get("sample")
               else "not checked")
    out.print(f"{for_terminal(s.collection)}: {s.images} images | imported {s.rows} rows from {s.kind}: new {s.new}, "
              f"changed {s.changed}, unchanged {s.unchanged}, repeated paths {s.repeated}, refused {s.refused} | "
              f"{s.reachable} files on this "
              f"machine | {s.vectors_written} vectors stored | model {checked} | root {for_terminal(s.root)} | "
              f"{s.elapsed_s:.1f}s: " + timings_line(s.timings))
    for w in s.warnings:
        err.print(f"warning: {for_terminal(w)}")
    for r in s.refused_samples[:5]:
        err.print(f"  refused {for_terminal(r['path'][:200])}: {r['reason']}")
