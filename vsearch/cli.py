"""The `vsearch` command: parse, call the public API, print (rich) or --json. No logic here."""
from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any, Optional

import typer
from rich.console import Console
from rich.table import Table

from .errors import VsearchError

app = typer.Typer(add_completion=False, no_args_is_help=True, rich_markup_mode=None,
                  help="Search a folder of photos by describing them.\n\n"
                       "\b\n  vsearch ingest ./photos\n  vsearch query \"a red bicycle\"\n"
                       "  vsearch query --image ./query.jpg\n\n"
                       "Collections live under $VSEARCH_HOME, else ./indexes (override with --home).")
texts_app = typer.Typer(no_args_is_help=True, help="Manage a collection's text corpus (for image -> text search).")
app.add_typer(texts_app, name="texts")
out = Console()
err = Console(stderr=True)

HomeOpt = typer.Option(None, "--home", help="Index home folder (default: $VSEARCH_HOME, else ./indexes).")
CollOpt = typer.Option(None, "--collection", "-c", help="Collection name (default: the only one).")
JsonOpt = typer.Option(False, "--json", help="Print machine-readable JSON instead of a table.")


def _fail(e: Exception, code: int = 2) -> None:
    err.print(f"[red]error:[/red] {e}", highlight=False)
    raise typer.Exit(code)


def _print_json(obj: Any) -> None:
    sys.stdout.write(json.dumps(obj, indent=1, default=str) + "\n")


def _human_bytes(n: int | None) -> str:
    if n is None:
        return ""
    for unit in ("B", "KB", "MB", "GB"):
        if n < 1024 or unit == "GB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1024
    return str(n)


@app.command()
def ingest(
    folder: Path = typer.Argument(..., help="Folder of photos, scanned recursively."),
    collection: Optional[str] = typer.Option(None, "--collection", "-c", help="Collection name (default: the folder's name)."),
    home: Optional[Path] = HomeOpt,
    model: Optional[str] = typer.Option(None, "--model", "-m", help="Model for a new collection: align-lite (default), openclip:<arch>/<tag>, or a checkpoint path."),
    batch_size: Optional[int] = typer.Option(None, help="Images per encoder batch (default: 32 on a CPU, 256 on a GPU)."),
    workers: Optional[int] = typer.Option(None, help="Decode worker processes (default: cores - 1)."),
    index: str = typer.Option("auto", help="Index type for a new collection: auto, flat, hnsw, ivf."),
    strict: bool = typer.Option(False, "--strict", help="Exit with code 1 if any file could not be ingested."),
    rerank_tokens: bool = typer.Option(True, "--rerank-tokens/--no-rerank-tokens", help="Store the reranker's image tokens (~8 KB a photo) so --rerank needs no photo decoding."),
    reranker: Optional[Path] = typer.Option(None, "--reranker", help="ITM checkpoint whose tokens to store (default: the model's shipped one)."),
    as_json: bool = JsonOpt,
) -> None:
    """Add a folder of photos to a collection (new, changed, moved and deleted files are picked up;
    re-running after an interruption resumes where it stopped)."""
    from .pipeline.runner import IngestConfig, ingest as run

    try:
        s = run(IngestConfig(root=folder, collection=collection, home=home, model=model, batch_size=batch_size,
                             workers=workers, index_type=index, progress=not as_json and sys.stderr.isatty(),
                             rerank_tokens=rerank_tokens, reranker=reranker))
    except VsearchError as e:
        _fail(e)
    if as_json:
        _print_json(s.to_json())
    else:
        out.print(f"{s.collection}: {s.images} images | new {s.new}, changed {s.changed}, unchanged {s.unchanged}, "
                  f"moved {s.moved}, removed {s.removed}, duplicates {s.duplicates}, errors {s.errors} | "
                  f"encoded {s.encoded} in {s.elapsed_s:.1f}s ({s.images_per_s:.1f} images/s)", highlight=False)
        for e in s.error_samples[:5]:
            err.print(f"  skipped {e['path']}: {e['reason']}", highlight=False)
        if s.errors > 5:
            err.print(f"  … {s.errors - 5} more; all are listed by `vsearch info --errors`", highlight=False)
    if strict and s.errors:
        raise typer.Exit(1)


@app.command()
def query(
    text: Optional[str] = typer.Argument(None, help="What to look for, in words."),
    image: Optional[Path] = typer.Option(None, "--image", "-i", help="Find images like this image file."),
    like: Optional[str] = typer.Option(None, "--like", help="More like this: an id or path of an ingested image."),
    texts: bool = typer.Option(False, "--texts", help="Image -> text: best matching texts of the collection's corpus."),
    k: int = typer.Option(10, "-k", "--top", help="Number of results."),
    where: Optional[str] = typer.Option(None, "--where", help="DuckDB SQL filter over metadata, e.g. \"taken_at >= '2020-01-01' AND folder LIKE '%trips%'\". Columns: path, folder, bytes, width, height, taken_at, camera, mtime."),
    collection: Optional[str] = CollOpt,
    home: Optional[Path] = HomeOpt,
    model: Optional[str] = typer.Option(None, "--model", "-m", help="Must be the collection's model (default: it)."),
    rerank: bool = typer.Option(False, "--rerank", help="Reorder the top hits with the ITM cross-encoder (text -> image, and --texts)."),
    rerank_k: Optional[int] = typer.Option(None, "--rerank-k", help="How many top hits the reranker reorders (default: the model's, chosen on dev)."),
    reranker: Optional[Path] = typer.Option(None, "--reranker", help="ITM checkpoint from `vsearch train-itm` (default: the model's shipped one)."),
    hubness: bool = typer.Option(True, "--hubness/--no-hubness", help="Rank text queries (and --texts) with the model's hubness correction: items that match almost everything are pushed down."),
    as_json: bool = JsonOpt,
) -> None:
    """Search a collection by text, by example image, or more-like-this."""
    from .search import open_collection

    try:
        col = open_collection(collection, home, model, reranker=reranker)
        if texts:
            hits = (col.search_texts(image, k=k, rerank=rerank, rerank_k=rerank_k, hubness=hubness) if image
                    else col.search_texts(like=like, k=k, rerank=rerank, rerank_k=rerank_k, hubness=hubness))
        else:
            hits = col.search(text, image=image, like=like, k=k, where=where, rerank=rerank, rerank_k=rerank_k, hubness=hubness)
    except VsearchError as e:
        _fail(e)
    if as_json:
        _print_json([h.to_dict() for h in hits])
        return
    if not hits:
        out.print("no results")
        return
    table = Table(show_header=True, header_style="bold")
    if texts:
        for c in ("score", "text"):
            table.add_column(c)
        for h in hits:
            table.add_row(f"{h.score:.3f}", h.text)
    else:
        for c in ("score", "path", "size", "date"):
            table.add_column(c, overflow="fold")
        for h in hits:
            dims = f"{h.width}x{h.height} " if h.width else ""
            table.add_row(f"{h.score:.3f}" + (f" ({h.rerank_score:+.2f})" if h.rerank_score is not None else ""), h.path, dims + _human_bytes(h.bytes), (h.taken_at or "")[:10])
    out.print(table)


@app.command()
def info(
    collection: Optional[str] = CollOpt,
    home: Optional[Path] = HomeOpt,
    errors: bool = typer.Option(False, "--errors", help="List every file that could not be ingested, with its reason."),
    as_json: bool = JsonOpt,
) -> None:
    """Model, counts, index type, errors and disk size of a collection (all collections if several)."""
    from .search import open_collection
    from .store.home import list_collections

    try:
        names = [collection] if collection else list_collections(home)
        if not names:
            open_collection(None, home)  # raises the 'no collection' error
        infos = []
        for n in names:
            col = open_collection(n, home)
            i = col.info()
            if errors:
                i["errors"] = col.store.errors().select(["path", "root", "reason"]).to_pylist()
            infos.append(i)
    except VsearchError as e:
        _fail(e)
    if as_json:
        _print_json(infos if len(infos) > 1 else infos[0])
        return
    for i in infos:
        t = Table(title=i["name"], show_header=False)
        t.add_row("model", f"{i['model']} ({i['fingerprint']}, {i['dim']}-d)")
        t.add_row("images", str(i["counts"].get("images", 0)))
        t.add_row("vectors", str(i["counts"].get("vectors", 0)))
        t.add_row("texts", str(i["counts"].get("texts", 0)))
        t.add_row("errors", str(i["counts"].get("errors", 0)))
        t.add_row("index", f"{i['index']['type']} {i['index'].get('params') or ''}")
        t.add_row("hubness", "stored (text queries corrected)" if i["hubness_correction"] else "none (plain cosine; `vsearch reindex` adds it if the model has one)")
        t.add_row("roots", "\n".join(i["roots"]))
        t.add_row("updated", f"{i['updated']} (generation {i['generation']})")
        t.add_row("disk", _human_bytes(i["disk_bytes"]))
        out.print(t)
        for e in i.get("errors", []):
            out.print(f"{e['root']}/{e['path']}: {e['reason']}", highlight=False)


@app.command()
def reindex(
    collection: Optional[str] = CollOpt,
    home: Optional[Path] = HomeOpt,
    index: Optional[str] = typer.Option(None, "--index", help="Index type to build: auto, flat, hnsw, ivf (default: as before)."),
    as_json: bool = JsonOpt,
) -> None:
    """Rebuild a collection's search indexes from what it stores (vectors, texts) without reading
    any photo: repairs a damaged index, switches the index type, and adds the model's hubness
    correction to a collection made before it existed."""
    from .pipeline.runner import reindex as run

    try:
        r = run(collection, home, index)
    except (VsearchError, ValueError, OSError) as e:
        _fail(e)
    if as_json:
        _print_json(r)
    else:
        out.print(f"{r['collection']}: {r['vectors']} vectors in a {r['index']['type']} index"
                  + (f", {r['texts']} texts" if r["texts"] else "")
                  + (", hubness correction stored" if r["hubness"] else "") + f" (generation {r['generation']})")


@app.command("list")
def list_(home: Optional[Path] = HomeOpt, as_json: bool = JsonOpt) -> None:
    """List the collections under the index home."""
    from .store.home import index_home, list_collections

    names = list_collections(home)
    if as_json:
        _print_json(names)
    else:
        out.print("\n".join(names) if names else f"no collections under {index_home(home)}")


@texts_app.command("add")
def texts_add(
    file: Path = typer.Argument(..., help="Plain text (one text a line) or CSV (uses a 'text' or 'caption' column)."),
    collection: Optional[str] = CollOpt,
    home: Optional[Path] = HomeOpt,
    as_json: bool = JsonOpt,
) -> None:
    """Add texts (captions, tags, phrases) to a collection's corpus for `vsearch query --image X --texts`."""
    import csv

    from .search import open_collection

    try:
        if file.suffix.lower() == ".csv":
            with open(file, newline="", encoding="utf-8") as f:
                reader = csv.DictReader(f)
                column = next((c for c in ("text", "caption") if c in (reader.fieldnames or [])), None)
                if column is None:
                    raise VsearchError(f"{file} has no 'text' or 'caption' column (has: {reader.fieldnames})")
                items = [r[column] for r in reader]
        else:
            items = file.read_text(encoding="utf-8").splitlines()
        col = open_collection(collection, home)
        n = col.add_texts(items, source=file.name)
    except (VsearchError, OSError) as e:
        _fail(e)
    if as_json:
        _print_json({"collection": col.name, "added": len([t for t in items if t.strip()]), "texts": n})
    else:
        out.print(f"{col.name}: text corpus now holds {n} texts")


@app.command("eval")
def eval_(
    benchmark: Optional[Path] = typer.Argument(None, help="Benchmark folder: images/, captions.csv, splits/<split>.txt (the Flickr8k layout)."),
    split: str = typer.Option("test", help="Split to score (train on train, choose on dev, report test)."),
    model: Optional[str] = typer.Option(None, "--model", "-m", help="Model name or checkpoint (default: align-lite)."),
    limit: Optional[int] = typer.Option(None, help="Use only the first N images of the split (quick checks)."),
    queries: Optional[Path] = typer.Option(None, "--queries", help="Instead of a benchmark: CSV of query,relevant (paths joined by '|') scored on a collection."),
    collection: Optional[str] = CollOpt,
    home: Optional[Path] = HomeOpt,
    workers: Optional[int] = typer.Option(None, help="Decode worker processes."),
    rerank: bool = typer.Option(False, "--rerank", help="Also score with the ITM reranker reordering each query's top k."),
    rerank_k: Optional[int] = typer.Option(None, "--rerank-k", help="Rerank depth (default: the model's)."),
    reranker: Optional[Path] = typer.Option(None, "--reranker", help="ITM checkpoint from `vsearch train-itm` (default: the model's shipped one)."),
    sweep: Optional[str] = typer.Option(None, "--sweep", help="Rerank depths to compare, e.g. 0,8,16,32,64 (0 = no rerank), with latency."),
    save: bool = typer.Option(True, "--save/--no-save", help="Keep the result under <home>/evals/ (the UI's evaluation page shows them)."),
    hubness: bool = typer.Option(True, "--hubness/--no-hubness", help="Rank with the model's hubness correction, as search does (the plain cosine figures are shown too)."),
    as_json: bool = JsonOpt,
) -> None:
    """Recall@1/5/10, text->image and image->text, of a model on a benchmark split
    (or text->image on a collection with --queries)."""
    from .evaluate import evaluate_benchmark, evaluate_collection

    try:
        if queries is not None:
            from .search import open_collection

            r = evaluate_collection(open_collection(collection, home, model), queries)
        elif benchmark is None:
            raise VsearchError("give a benchmark folder, or --queries FILE for a collection")
        else:
            r = evaluate_benchmark(benchmark, split, model, workers=workers, limit=limit,
                                   progress=not as_json and sys.stderr.isatty(), rerank=rerank, rerank_k=rerank_k, reranker=reranker,
                                   sweep=tuple(int(x) for x in sweep.split(",")) if sweep else None, hubness=hubness)
    except (VsearchError, ValueError, OSError) as e:
        _fail(e)
    if save:
        from .evals import save_eval

        save_eval(r.to_json(), home, source=str(queries or benchmark))
    if as_json:
        _print_json(r.to_json())
        return
    t = Table(title=f"{r.model} on {r.split} ({r.n_images} images, {r.n_texts} texts)")
    for c in ("direction", "R@1", "R@5", "R@10"):
        t.add_column(c)
    for name, d in (("text -> image", r.text_to_image), ("image -> text", r.image_to_text)):
        if d:
            t.add_row(name, *(f"{d[k]:.1f}" for k in ("R@1", "R@5", "R@10")))
    for name, d in (r.extra.get("uncorrected") or {}).items():
        t.add_row(f"{name.replace('_to_', ' -> ').replace('_', ' ')} (no hubness correction)", *(f"{d[k]:.1f}" for k in ("R@1", "R@5", "R@10")))
    rr = r.extra.get("rerank")
    if rr:
        for name in ("text_to_image", "image_to_text"):
            t.add_row(f"{name.replace('_to_', ' -> ').replace('_', ' ')} (rerank k={rr['k']})",
                      *(f"{rr[name][k]:.1f}" for k in ("R@1", "R@5", "R@10")))
    out.print(t)
    if r.extra.get("sweep"):
        sw = Table(title="rerank depth sweep (k = 0: dual encoder alone)")
        for c in ("k", "t->i R@1", "t->i R@5", "t->i R@10", "i->t R@1", "i->t R@5", "i->t R@10", "latency ms/query"):
            sw.add_column(c)
        for row in r.extra["sweep"]:
            sw.add_row(str(row["k"]), *(f"{row['text_to_image'][k]:.1f}" for k in ("R@1", "R@5", "R@10")),
                       *(f"{row['image_to_text'][k]:.1f}" for k in ("R@1", "R@5", "R@10")), f"{row['latency_ms']:.1f}")
        out.print(sw)


@app.command()
def train(
    data: Path = typer.Argument(..., help="Pairs folder: images/, captions.csv (image,caption), splits/train.txt and dev.txt."),
    out_dir: Path = typer.Option(Path("runs/train"), "--out", help="Where checkpoints go (last/best.safetensors)."),
    preset: Optional[str] = typer.Option(None, help="Settings of a shipped model, e.g. align-lite (reproduces it)."),
    model: str = typer.Option("align-lite", "--model", "-m", help="Architecture: align-lite[-l1|-l2], openclip:<arch>[/<tag>]."),
    mode: str = typer.Option("partial", help="heads (towers locked), partial (last stages tuned), lit (image locked, text tuned), full."),
    loss: str = typer.Option("clip", help="clip, align (label-smoothed) or siglip."),
    epochs: int = typer.Option(10),
    batch_size: int = typer.Option(256),
    lr: float = typer.Option(1e-3, help="Learning rate of heads (and whole model for end-to-end training)."),
    tail_lr: float = typer.Option(1e-4, help="Learning rate of tuned tower layers."),
    image_tail_stages: Optional[int] = typer.Option(None, help="EfficientNet stages to tune (align-lite)."),
    text_tail_layers: Optional[int] = typer.Option(None, help="MiniLM layers to tune (align-lite)."),
    image_pool_heads: Optional[int] = typer.Option(None, help="align-lite: learned attention pooling over the image feature map with this many channel groups (default: mean pooling)."),
    limit_train: Optional[int] = typer.Option(None, help="Use only the first N training images."),
    limit_dev: Optional[int] = typer.Option(None, help="Use only the first N dev images."),
    seed: int = typer.Option(0),
    resume: bool = typer.Option(False, "--resume", help="Continue from <out>/last.state.pt."),
    workers: Optional[int] = typer.Option(None, help="Decode worker processes."),
    hubness: bool = typer.Option(True, "--hubness/--no-hubness", help="After training, fit the best checkpoint's hubness correction (as `vsearch fit-hubness`)."),
    as_json: bool = JsonOpt,
) -> None:
    """Train a dual encoder on image-caption pairs; the best epoch on dev is kept as best.safetensors."""
    from .train.loop import TrainConfig, preset as get_preset, train as run

    settings: dict[str, Any] = dict(model=model, mode=mode, loss=loss, epochs=epochs, batch_size=batch_size, lr=lr,
                                    tail_lr=tail_lr, image_tail_stages=image_tail_stages, text_tail_layers=text_tail_layers,
                                    image_pool_heads=image_pool_heads)
    try:
        if preset:
            settings = {**{k: v for k, v in settings.items() if k in ("model",)}, **get_preset(preset)}
        r = run(TrainConfig(data=data, out=out_dir, limit_train=limit_train, limit_dev=limit_dev, seed=seed,
                            resume=resume, workers=workers, progress=not as_json, **settings))
    except (VsearchError, ValueError) as e:
        _fail(e)
    corrected = _fit_hubness(str(r.best_checkpoint), data, workers, as_json) if hubness and limit_train is None else None
    if as_json:
        _print_json({"best": str(r.best_checkpoint), "best_epoch": r.best_epoch, "best_dev": r.best_dev, "history": r.history,
                     "hubness_dev": corrected})
    else:
        out.print(f"best epoch {r.best_epoch}: dev R@1 text->image {r.best_dev['text_to_image']['R@1']:.1f}, "
                  f"image->text {r.best_dev['image_to_text']['R@1']:.1f} -> {r.best_checkpoint}")


def _fit_hubness(model_name: str, data: Path, workers: Optional[int], quiet: bool) -> dict:
    from .models import load_model, resolve
    from .train.hubness import fit_hubness

    spec = resolve(model_name)
    if spec.weights is None:
        raise VsearchError(f"{model_name!r} has no weights file to fit a hubness correction for")
    h, dev, path = fit_hubness(load_model(model_name), spec.weights, data, workers=workers, progress=not quiet and sys.stderr.isatty())
    if not quiet:
        out.print(f"hubness correction -> {path}: dev R@1 text->image {dev['text_to_image']['R@1']:.1f} "
                  f"(beta {h.beta_t2i:g}, lambda {h.lambda_t2i:g}), image->text {dev['image_to_text']['R@1']:.1f} "
                  f"(beta {h.beta_i2t:g}, lambda {h.lambda_i2t:g})")
    return {"path": str(path), **dev, "params": [h.beta_t2i, h.lambda_t2i, h.beta_i2t, h.lambda_i2t]}


@app.command("fit-hubness")
def fit_hubness_cmd(
    data: Path = typer.Argument(..., help="Pairs folder with train and dev splits (the Flickr8k layout)."),
    model: str = typer.Option("align-lite", "--model", "-m", help="Registered model or checkpoint path."),
    workers: Optional[int] = typer.Option(None, help="Decode worker processes."),
    as_json: bool = JsonOpt,
) -> None:
    """Fit a model's hubness correction: banks of its train-split image and caption vectors, the
    strength chosen on dev R@1. Saved beside the weights as <weights>.hubness.safetensors; search
    and eval use it from then on (collections pick it up at their next ingest)."""
    try:
        r = _fit_hubness(model, data, workers, as_json)
    except (VsearchError, ValueError, OSError) as e:
        _fail(e)
    if as_json:
        _print_json(r)


@app.command("train-itm")
def train_itm(
    data: Path = typer.Argument(..., help="Pairs folder in the Flickr8k layout (train split to learn, dev split to choose)."),
    out_dir: Path = typer.Option(Path("runs/itm"), "--out", help="Where checkpoints go (last/best.safetensors)."),
    dual_encoder: str = typer.Option("align-lite", "--dual-encoder", help="Model whose top hits are reranked; it mines the hard negatives."),
    style: str = typer.Option("cross", help="cross (ALBEF-style text-to-image cross-attention) or single (one stream)."),
    layers: int = typer.Option(2, help="Fusion transformer layers."),
    width: int = typer.Option(256, help="Fusion transformer width (compute grows with its square)."),
    objective: str = typer.Option("bce", help="bce (binary match loss, ALBEF ITM) or listwise (softmax over the correct pair and hard/random wrong ones, on top of the dual score)."),
    group: int = typer.Option(8, help="listwise: candidates per query, the correct one included."),
    hard_pool: int = typer.Option(16, help="Hard negatives come from the dual encoder's top N wrong matches..."),
    hard_skip: int = typer.Option(0, help="...after skipping its first few (often unlabelled true matches)."),
    inputs: str = typer.Option("towers", help="towers (raw tower outputs) or aligned (token vectors through the dual encoder's own projection heads, plus a late-interaction term)."),
    epochs: int = typer.Option(5),
    batch_size: int = typer.Option(96, help="Positive pairs per step (each with 2 hard and some random negatives)."),
    lr: float = typer.Option(3e-4),
    seed: int = typer.Option(0),
    resume: bool = typer.Option(False, "--resume", help="Continue from <out>/last.state.pt."),
    as_json: bool = JsonOpt,
) -> None:
    """Train the ITM reranker (image-text matching cross-encoder) on image-caption pairs."""
    from .train.itm import ITMTrainConfig, train_itm as run

    try:
        r = run(ITMTrainConfig(data=data, out=out_dir, dual_encoder=dual_encoder, style=style, layers=layers, width=width, objective=objective, group=group, inputs=inputs,
                               hard_pool=hard_pool, hard_skip=hard_skip,
                               epochs=epochs, batch_size=batch_size, lr=lr, seed=seed, resume=resume, progress=not as_json))
    except (VsearchError, ValueError) as e:
        _fail(e)
    if as_json:
        _print_json(r)
    else:
        out.print(f"best reranker: {r['best']}")


@app.command()
def models(as_json: bool = JsonOpt) -> None:
    """List the model names vsearch knows."""
    from .models import known_models

    names = known_models()
    if as_json:
        _print_json(names)
    else:
        out.print("\n".join(names), highlight=False)


@app.command()
def ui(
    collection: Optional[str] = typer.Argument(None, help="Collection to open first (default: the first one; all are in the picker)."),
    home: Optional[Path] = HomeOpt,
    port: int = typer.Option(8501, help="Port of the local web server."),
    address: str = typer.Option("localhost", help="Address to listen on (localhost keeps it private to this machine)."),
    browser: bool = typer.Option(True, "--browser/--no-browser", help="Open a browser tab."),
    reranker: Optional[Path] = typer.Option(None, "--reranker", help="ITM checkpoint from `vsearch train-itm` for the rerank toggle (default: the model's shipped one)."),
) -> None:
    """Open the Streamlit app: search by text or example image, filter, browse, see evaluations."""
    import subprocess

    app_file = Path(__file__).resolve().parents[1] / "ui" / "app.py"
    if not app_file.is_file():
        _fail(VsearchError(f"the UI ships with the source tree ({app_file} is missing); install vsearch from a checkout"))
    try:
        import streamlit  # noqa: F401
    except ImportError:
        _fail(VsearchError('the UI needs Streamlit: pip install "vsearch[ui]"'))
    cmd = [sys.executable, "-m", "streamlit", "run", str(app_file), "--server.port", str(port),
           "--server.address", address, "--server.headless", str(not browser).lower(),
           "--browser.gatherUsageStats", "false", "--client.toolbarMode", "minimal", "--"]
    if home:
        cmd += ["--home", str(home)]
    if collection:
        cmd += ["--collection", collection]
    if reranker:
        cmd += ["--reranker", str(reranker.resolve())]
    raise typer.Exit(subprocess.call(cmd))


def main() -> None:
    app()


if __name__ == "__main__":
    main()
