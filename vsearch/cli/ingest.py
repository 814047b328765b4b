"""`vsearch ingest`."""
from __future__ import annotations

from pathlib import Path
from typing import Optional

import typer

from ..escape import for_terminal
from .common import HomeOpt, IndexOpt, JsonOpt, MaxMemoryOpt, bars, err, handles_errors, out, parse_size, print_json


@handles_errors
def ingest(
    folder: Path = typer.Argument(..., help="Folder of photos, scanned recursively."),
    collection: Optional[str] = typer.Option(None, "--collection", "-c", help="Collection name (default: the folder's name)."),
    home: Optional[Path] = HomeOpt,
    model: Optional[str] = typer.Option(None, "--model", "-m", help="Model for a new collection: align-lite (default), openclip:<arch>/<tag>, or a checkpoint path (`vsearch models` lists them)."),
    batch_size: Optional[int] = typer.Option(None, help="Images per encoder batch (default: 32 on a CPU, 256 on a GPU)."),
    workers: Optional[int] = typer.Option(None, help="Decode worker processes (default: cores - 1)."),
    index: Optional[str] = IndexOpt,
    max_index_memory: Optional[str] = MaxMemoryOpt,
    strict: bool = typer.Option(False, "--strict", help="Exit with code 1 if any file could not be ingested."),
    rerank_tokens: bool = typer.Option(True, "--rerank-tokens/--no-rerank-tokens", help="Store the reranker's image tokens (~8 KB a photo) so --rerank needs no photo decoding."),
    reranker: Optional[Path] = typer.Option(None, "--reranker", help="ITM checkpoint whose tokens to store (default: the model's shipped one)."),
    engine: str = typer.Option("local", "--engine", help="local: this machine's processes; ray: a Ray Data job (needs the `ray` extra; the photos and --home must be on storage every node sees)."),
    precision: Optional[str] = typer.Option(None, "--precision", help="Image encoder precision for a new collection: fp32 (default) or int8 (faster on CPUs with VNNI, slightly less accurate; README). An existing collection keeps its own."),
    videos: bool = typer.Option(False, "--videos", help="Also ingest videos (needs the `video` extra): frames sampled at scene changes (at most one a second, and one at least every 10 s), each searchable; a query returns a video once, at its best moment. Recorded: later ingests of the collection read videos too."),
    video_every: Optional[float] = typer.Option(None, "--video-every", help="With --videos: a frame every this many seconds instead of at scene changes."),
    video_max_frames: Optional[int] = typer.Option(None, "--video-max-frames", help="With --videos: frames per video at most (default 48, at most 1,000; a longer video's are spread over it)."),
    exclude: Optional[list[str]] = typer.Option(None, "--exclude", metavar="PATTERN", help="Leave out files and folders matching PATTERN (gitignore syntax, relative to FOLDER; repeatable), e.g. 'drafts/' or '*.png'. A .vsearchignore file in FOLDER holds patterns for every run. NAS thumbnail folders (@eaDir…), recycle bins and trash are left out anyway (README)."),
    ray_address: Optional[str] = typer.Option(None, "--ray-address", help="With --engine ray: the cluster to run on (default: $RAY_ADDRESS, else a local Ray instance with --workers + 1 CPUs)."),
    as_json: bool = JsonOpt,
) -> None:
    """Add a folder of photos to a collection (new, changed, moved and deleted files are picked up;
    re-running after an interruption resumes where it stopped)."""
    from ..models import resolve
    from ..pipeline.config import IngestConfig
    from ..pipeline.engines import check_engine, run_ingest

    check_engine(engine, ray_address)
    cfg = IngestConfig(root=folder, collection=collection, home=home, model=model, batch_size=batch_size,
                       workers=workers, index_type=index,
                       max_index_memory=parse_size(max_index_memory), rerank_tokens=rerank_tokens, reranker=reranker,
                       precision=precision, videos=videos, video_every=video_every, video_max_frames=video_max_frames,
                       exclude=tuple(exclude or ()))
    if model:
        resolve(model)  # an unknown model name fails now, not after the scan
    if not folder.is_dir():
        raise typer.BadParameter(f"{folder} is not a folder", param_hint="FOLDER")
    from . import AS_PROGRAM

    started = process_age() if AS_PROGRAM else None
    with bars(not as_json) as progress:
        s = run_ingest(cfg, engine, ray_address, progress=progress)
    if started is not None:  # the process's own start (interpreter, imports) belongs to the wall time too
        s.timings = {"imports": started, **s.timings}
    if as_json:
        print_json(s.to_json())
    else:
        for line in s.repaired:  # damaged metadata was set aside and rebuilt before the ingest (pipeline/repair.py)
            err.print(f"repaired: {for_terminal(line)}")
        total = s.elapsed_s + (started or 0.0)
        media = (f" ({s.videos} videos)" if s.videos else "") + (f", {s.companions} companion files" if s.companions else "")
        out.print(f"{for_terminal(s.collection)}: {s.images} images{media} | new {s.new}, changed {s.changed}, "
                  f"unchanged {s.unchanged}, touched {s.touched}, moved {s.moved}, removed {s.removed}, "
                  f"duplicates {s.duplicates}, errors {s.errors} | encoded {s.encoded} | {total:.1f}s: " + timings_line(s.timings))
        if any(s.skipped.values()):  # reasons and their wording: pipeline/ignore.py REASONS
            from ..pipeline.ignore import describe

            out.print(f"not ingested: {describe(s.skipped)}")
        for e in s.error_samples[:5]:
            err.print(f"  skipped {for_terminal(e['path'])}: {for_terminal(e['reason'])}")
        if s.errors > 5:
            err.print(f"  … {s.errors - 5} more; all are listed by `vsearch info --errors`")
        for n in s.notes[:5]:
            err.print(f"  note {for_terminal(n['path'])}: {n['note']}")
        if s.noted > 5:
            err.print(f"  … {s.noted - 5} more notes (`--json` lists the first 20)")
    if strict and s.errors:
        raise typer.Exit(1)


def timings_line(timings: dict[str, float]) -> str:
    """"imports 0.6s, startup 0.3s, …": the phases in the order they ran, small ones left out."""
    return ", ".join(f"{k} {v:.1f}s" for k, v in timings.items() if v >= 0.05)


def process_age() -> float | None:
    """Seconds since this process started (interpreter start-up and imports), where the OS tells
    (Linux); None elsewhere."""
    try:
        import os

        with open("/proc/self/stat", "rb") as f:
            start_ticks = int(f.read().rsplit(b")", 1)[1].split()[19])
        with open("/proc/uptime", "rb") as f:
            uptime = float(f.read().split()[0])
        return max(0.0, uptime - start_ticks / os.sysconf("SC_CLK_TCK"))
    except (OSError, ValueError, IndexError, AttributeError):
        return None
