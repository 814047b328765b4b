"""One entry to the ingest runners: the library's `vsearch.ingest` and the CLI both come here."""
from __future__ import annotations

from ..errors import InvalidOptionError
from ..progress import Reporter
from .config import IngestConfig, IngestSummary

ENGINES = ("local", "ray")


def check_engine(engine: str, ray_address: str | None = None) -> None:
    """Before any work: a known engine, and a Ray address only with the ray engine."""
    if engine not in ENGINES:
        raise InvalidOptionError(f"unknown engine {engine!r}; known: {', '.join(ENGINES)}")
    if ray_address and engine != "ray":
        raise InvalidOptionError("--ray-address needs --engine ray (a Ray address needs the ray engine)")


def run_ingest(cfg: IngestConfig, engine: str = "local", ray_address: str | None = None, model=None, reranker=None,
               progress: Reporter | None = None) -> IngestSummary:
    """`engine`: "local" (this machine's processes) or "ray" (a Ray Data job on `ray_address`,
    $RAY_ADDRESS, or a local instance). `model` / `reranker`: loaded objects, local engine only
    (Ray loads the model on every node by name)."""
    check_engine(engine, ray_address)
    if engine == "ray":
        if cfg.videos or cfg.video_every is not None or cfg.video_max_frames is not None:
            raise InvalidOptionError("videos are read by the local engine: drop --engine ray to ingest them")
        if model is not None or reranker is not None:
            raise InvalidOptionError("the ray engine loads the model on every node by name: pass names or paths, not loaded objects")
        from .ray_runner import RayOptions, ingest

        return ingest(cfg, RayOptions(address=ray_address), progress=progress)
    from .local import ingest

    return ingest(cfg, model=model, reranker=reranker, progress=progress)
