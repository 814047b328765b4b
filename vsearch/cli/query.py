"""`vsearch query`."""
from __future__ import annotations

from pathlib import Path
from typing import Optional

import typer

from .common import CollOpt, HomeOpt, JsonOpt, handles_errors, out, print_json
from .render import hits_table, text_hits_table


@handles_errors
def query(
    text: Optional[str] = typer.Argument(None, help="What to look for, in words."),
    image: Optional[Path] = typer.Option(None, "--image", "-i", help="Find images like this image file."),
    like: Optional[str] = typer.Option(None, "--like", help="More like this: an id or path of an ingested image."),
    texts: bool = typer.Option(False, "--texts", help="Image -> text: best matching texts of the collection's corpus."),
    k: int = typer.Option(10, "-k", "--top", min=1, help="Number of results."),
    where: Optional[str] = typer.Option(None, "--where", help="Filter: one expression over the metadata, e.g. \"taken_at >= '2020-01-01' AND folder LIKE '%trips%'\". Columns: path, folder, bytes, width, height, taken_at, camera, lens, media (photo, raw, video), duration_ms, frame_ms, mtime; the photo's words: title, description, ocr (text) and keywords, people, places (lists: \"list_contains(keywords, 'beach')\")."),
    collection: Optional[str] = CollOpt,
    home: Optional[Path] = HomeOpt,
    model: Optional[str] = typer.Option(None, "--model", "-m", help="Must be the collection's model (default: it)."),
    rerank: bool = typer.Option(False, "--rerank", help="Reorder the top hits with the ITM cross-encoder (text -> image, and --texts)."),
    rerank_k: Optional[int] = typer.Option(None, "--rerank-k", min=0, help="How many top hits the reranker reorders (default: the model's, chosen on dev)."),
    reranker: Optional[Path] = typer.Option(None, "--reranker", help="ITM checkpoint from `vsearch train-itm` (default: the model's shipped one)."),
    hubness: bool = typer.Option(True, "--hubness/--no-hubness", help="Rank text queries (and --texts) with the model's hubness correction: items that match almost everything are pushed down."),
    mode: Optional[str] = typer.Option(None, "--mode", help="semantic (the vectors), keyword (the photos' words, BM25: their titles, descriptions, keywords, people and places, their sidecars', the text OCR read in them, folder and file names) or hybrid (both; the default). A \"quoted phrase\" must match in every mode."),
    sort: str = typer.Option("relevance", "--sort", help="relevance, or taken_at, mtime, name, size: the relevant hits (within --cutoff of the best) in that order."),
    descending: Optional[bool] = typer.Option(None, "--desc/--asc", help="Sort order (default: dates newest first, names A-Z, sizes largest first)."),
    cutoff: float = typer.Option(0.25, "--cutoff", min=0.0, help="With --sort: keep hits scoring within this much of the best one (relative to the query, not a flat score)."),
    every_moment: bool = typer.Option(False, "--every-moment", help="Videos: every matching moment is a result of its own (default: each video once, at its best moment, shown as `clip.mp4 @ 0:04`)."),
    collapse: bool = typer.Option(False, "--collapse-duplicates", help="Show each group of near duplicates once, as its keeper (see `vsearch duplicates`); the others are listed on the hit (--json: near_duplicates). Applied after a video is collapsed to its best moment."),
    as_json: bool = JsonOpt,
) -> None:
    """Search a collection by text, by example image, or more-like-this."""
    from ..search import open_collection

    given = sum(x is not None for x in (text, image, like))
    if given != 1:
        raise typer.BadParameter("give exactly one of: TEXT, --image FILE, --like ID_OR_PATH")
    if texts and text is not None:
        raise typer.BadParameter("--texts finds texts for an image: give --image FILE or --like ID_OR_PATH")
    if image is not None and not image.is_file():
        raise typer.BadParameter(f"{image} is not a file", param_hint="--image")
    col = open_collection(collection, home, model, reranker=reranker, prefetch=False)  # one query: nothing to warm for
    if texts:
        hits = col.search_texts(image, like=like, k=k, rerank=rerank, rerank_k=rerank_k, hubness=hubness)
    else:
        hits = col.search(text, image=image, like=like, k=k, where=where, rerank=rerank, rerank_k=rerank_k, hubness=hubness,
                          every_moment=every_moment, collapse_duplicates=collapse, mode=mode, sort=sort,
                          descending=descending, cutoff=cutoff)
    if as_json:
        print_json([h.to_dict() for h in hits])
    elif not hits:
        out.print("no results")
    else:
        out.print(text_hits_table(hits) if texts else hits_table(hits, col.store.manifest.roots))
