"""What an ingest is asked to do (a frozen config, validated before any work) and what it did."""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..errors import InvalidOptionError
from ..imaging.video import Sampling
from ..index import KINDS
from ..limits import MAX_BATCH, MAX_VIDEO_FRAMES, max_workers, whole_number
from ..models.precision import DEFAULT_PRECISION, check_precision_name
from ..store.home import check_collection_name
from .ignore import check_patterns

INDEX_TYPES = ("auto", *sorted(KINDS))

BACKENDS = ("auto", "torch", "onnx")


def check_index_options(index_type: str | None, max_index_memory: int | None) -> None:
    """What every writer that builds an index checks before any work."""
    if index_type is not None and index_type not in INDEX_TYPES:
        raise InvalidOptionError(f"unknown index type {index_type!r}; known: {', '.join(INDEX_TYPES)}")
    if max_index_memory is not None and max_index_memory < (1 << 20):
        raise InvalidOptionError(f"--max-index-memory must be at least 1 MB (got {max_index_memory} bytes)")


@dataclass(frozen=True)
class IngestConfig:
    root: Path
    collection: str | None = None
    home: Path | None = None
    model: str | None = None
    batch_size: int | None = None     # default: 32 on a CPU, 256 on a GPU
    workers: int | None = None        # decode worker processes (default: cores - 1)
    index_type: str | None = None     # None: a new collection gets "auto", an existing one keeps its kind
    max_index_memory: int | None = None  # bytes auto may give the index (default: a quarter of the RAM; kept once given)
    device: str | None = None
    backend: str = "auto"             # image encoder: auto | torch | onnx
    rerank_tokens: bool = True        # store the reranker's image tokens (~8 KB/image) for fast --rerank
    reranker: Path | None = None      # an ITM checkpoint whose tokens to store (default: the model's shipped one)
    precision: str | None = None      # image encoder: fp32 | int8; None: fp32 for a new collection, an existing one keeps its own
    videos: bool = False              # read videos (frames by scene change; recorded: later ingests read them too)
    video_every: float | None = None  # a video frame every N seconds instead of at scene changes (implies videos)
    video_max_frames: int | None = None  # frames per video at most (implies videos; default: Sampling's)
    exclude: tuple[str, ...] = ()     # gitignore-style patterns left out of the scan (pipeline/ignore.py), this run
    ocr: bool = False                 # read the text in pictures the OCR gate picks (vsearch/ocr; the ocr extra)

    def __post_init__(self) -> None:
        if self.collection is not None:
            check_collection_name(self.collection)
        object.__setattr__(self, "exclude", tuple(self.exclude or ()))
        check_patterns(self.exclude)
        check_index_options(self.index_type, self.max_index_memory)
        if self.batch_size is not None:
            whole_number(self.batch_size, "--batch-size", 1, MAX_BATCH)
        if self.workers is not None:
            whole_number(self.workers, "--workers", 0, max_workers())
        if self.backend not in BACKENDS:
            raise InvalidOptionError(f"unknown encoder backend {self.backend!r}; known: {', '.join(BACKENDS)}")
        if self.video_max_frames is not None:
            whole_number(self.video_max_frames, "--video-max-frames", 1, MAX_VIDEO_FRAMES)
        if self.video_every is not None:
            Sampling(every_s=self.video_every)  # refuses what cannot work
        if self.ocr:
            from ..ocr import ocr_available

            if not ocr_available():
                raise InvalidOptionError('--ocr needs the OCR engine: pip install "vsearch[ocr]"')
        if self.precision is not None:
            check_precision_name(self.precision)
            if self.precision != DEFAULT_PRECISION and self.backend == "torch":
                raise InvalidOptionError(f"--precision {self.precision} runs through ONNX Runtime: it cannot use the torch backend")


def video_sampling(cfg: IngestConfig, recorded: dict[str, Any]) -> Sampling | None:
    """How this ingest samples videos: the collection's recorded settings (an earlier --videos run),
    else this run's options; None when videos are not read. Other settings than the recorded ones
    are refused: the stored frames would mix two samplings."""
    asked = {"every_s": cfg.video_every, "max_frames": cfg.video_max_frames}
    if recorded:
        for key, value in asked.items():
            if value is not None and recorded.get(key) != value:
                option = {"every_s": "--video-every", "max_frames": "--video-max-frames"}[key]
                raise InvalidOptionError(
                    f"this collection samples videos with {option} {recorded.get(key)}, not {value}: it cannot change "
                    f"(its stored frames would mix two samplings). Ingest into a new collection to sample otherwise.")
        return Sampling(**{k: v for k, v in recorded.items() if k in Sampling.__dataclass_fields__})
    if not (cfg.videos or any(v is not None for v in asked.values())):
        return None
    return Sampling(**{k: v for k, v in asked.items() if v is not None})


@dataclass
class IngestSummary:
    collection: str
    generation: int
    scanned: int = 0
    new: int = 0
    changed: int = 0
    unchanged: int = 0
    touched: int = 0        # read again for a new date, the same content (counted apart from unchanged)
    moved: int = 0
    removed: int = 0
    duplicates: int = 0
    errors: int = 0
    encoded: int = 0
    images: int = 0         # rows of the images table: a photo each, a video one per sampled frame
    videos: int = 0         # video files (their frames are rows of `images`)
    companions: int = 0     # files recorded under their still's picture: a RAW beside its JPEG, a Live Photo's video
    # files and folders seen and not ingested, by reason (pipeline/ignore.py REASONS words each): what the
    # scan's ignore rules left out and the files the plan does not read (a RAW without rawpy, a video without --videos)
    skipped: dict[str, int] = field(default_factory=dict)
    elapsed_s: float = 0.0
    # Where the time went, in seconds, in the order the phases ran; they add up to elapsed_s:
    # startup (collection, model record, encoder session), scan, export (a first run: PyTorch and
    # the ONNX exports), decode (waiting for decoded images), encode, write (shards), commit
    # (tables, biases, manifest), index (loading the vectors, building the index). The CLI adds
    # imports (process start-up until the ingest begins).
    timings: dict[str, float] = field(default_factory=dict)
    error_samples: list[dict[str, str]] = field(default_factory=list)
    noted: int = 0          # files ingested with something to say (a date clamped to what the format holds)
    notes: list[dict[str, str]] = field(default_factory=list)  # the first of them: path, note
    repaired: list[str] = field(default_factory=list)  # what a repair of damaged metadata did (pipeline/repair.py)
    read_again: int = 0     # stored contents read for their words (or text) only: an older format's, an import's
    ocr_looked: int = 0     # with --ocr: contents the OCR gate looked at
    ocr_read: int = 0       # ... and the OCR engine read (the share that costs)
    nodes: dict[str, dict[str, int]] = field(default_factory=dict)  # Ray engine: files decoded, images encoded per node

    @property
    def images_per_s(self) -> float:
        return self.encoded / self.elapsed_s if self.elapsed_s > 0 else 0.0

    def to_json(self) -> dict[str, Any]:
        d = dict(self.__dict__)
        d["images_per_s"] = round(self.images_per_s, 2)
        d["elapsed_s"] = round(self.elapsed_s, 3)
        d["timings"] = {k: round(v, 3) for k, v in self.timings.items()}
        return d
