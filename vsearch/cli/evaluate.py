"""`vsearch eval`."""
from __future__ import annotations

from pathlib import Path
from typing import Optional

import typer

from .common import CollOpt, HomeOpt, JsonOpt, bars, handles_errors, out, print_json
from .render import eval_tables


def _depths(sweep: Optional[str]) -> tuple[int, ...] | None:
    if not sweep:
        return None
    try:
        depths = tuple(int(x) for x in sweep.split(","))
    except ValueError:
        raise typer.BadParameter(f"expected whole numbers separated by commas, e.g. 0,8,16 (got {sweep!r})", param_hint="--sweep")
    if any(d < 0 for d in depths):
        raise typer.BadParameter("rerank depths are 0 or more", param_hint="--sweep")
    return depths


@handles_errors
def eval_(
    benchmark: Optional[Path] = typer.Argument(None, help="Benchmark folder: images/, captions.csv, splits/<split>.txt (the Flickr8k layout)."),
    split: str = typer.Option("test", help="Split to score (train on train, choose on dev, report test)."),
    model: Optional[str] = typer.Option(None, "--model", "-m", help="Model name or checkpoint (default: align-lite)."),
    limit: Optional[int] = typer.Option(None, min=1, help="Use only the first N images of the split (quick checks)."),
    queries: Optional[Path] = typer.Option(None, "--queries", help="Instead of a benchmark: CSV of query,relevant (paths joined by '|') scored on a collection."),
    collection: Optional[str] = CollOpt,
    home: Optional[Path] = HomeOpt,
    workers: Optional[int] = typer.Option(None, min=0, help="Decode worker processes."),
    rerank: bool = typer.Option(False, "--rerank", help="Also score with the ITM reranker reordering each query's top k."),
    rerank_k: Optional[int] = typer.Option(None, "--rerank-k", min=0, help="Rerank depth (default: the model's)."),
    reranker: Optional[Path] = typer.Option(None, "--reranker", help="ITM checkpoint from `vsearch train-itm` (default: the model's shipped one)."),
    sweep: Optional[str] = typer.Option(None, "--sweep", help="Rerank depths to compare, e.g. 0,8,16,32,64 (0 = no rerank), with latency."),
    save: bool = typer.Option(True, "--save/--no-save", help="Keep the result under <home>/evals/ (the UI's evaluation page shows them)."),
    precision: str = typer.Option("fp32", "--precision", help="Image encoder precision: fp32 or int8 (what `vsearch ingest --precision` stores)."),
    hubness: bool = typer.Option(True, "--hubness/--no-hubness", help="Rank with the model's hubness correction, as search does (the plain cosine figures are shown too)."),
    as_json: bool = JsonOpt,
) -> None:
    """Recall@1/5/10, text->image and image->text, of a model on a benchmark split
    (or text->image on a collection with --queries)."""
    from ..evaluation.benchmark import evaluate_benchmark, evaluate_collection

    depths = _depths(sweep)
    if queries is None and benchmark is None:
        raise typer.BadParameter("give a benchmark folder, or --queries FILE for a collection")
    if queries is not None:
        from ..search import open_collection

        r = evaluate_collection(open_collection(collection, home, model), queries)
    else:
        if model:
            from ..models import resolve

            resolve(model)
        with bars(not as_json) as progress:
            r = evaluate_benchmark(benchmark, split, model, workers=workers, limit=limit, progress=progress, rerank=rerank,
                                   rerank_k=rerank_k, reranker=reranker, sweep=depths, hubness=hubness,
                                   precision=precision)
    if save:
        from ..evaluation.records import save_eval

        save_eval(r.to_json(), home, source=str(queries or benchmark))
    if as_json:
        print_json(r.to_json())
        return
    for t in eval_tables(r):
        out.print(t)
