"""Do imported vectors come from the model they are imported for? What can be checked cheaply.

In general nothing proves where a vector came from. But when some imported paths are image files
on this machine, a few of them (up to SAMPLE, drawn evenly from the whole import by reservoir
sampling with a fixed seed) are encoded now with the named model and compared with their imported
vectors: a mean cosine below MIN_MEAN_COSINE refuses the import, one below WARN_MEAN_COSINE is
imported with a warning.

The thresholds come from benchmarks/import_check.py (align-lite, 400 Flickr8k test photos, the
means of 2,000 random 8-photo samples, lowest to highest):
  the model's own vectors, computed another way (fp16, full-size instead of reduced-size JPEG
  decoding, another resize filter) ........................................ 0.985 - 1.000
  the model's vectors of other copies of the photos (recompressed q=75: 0.906 - 0.966;
  half-size and recompressed: 0.606 - 0.816) ............................... 0.606 - 0.966
  vectors of another 256-d model, of other photos (rows out of line with the
  paths), or noise ......................................................... -0.164 - 0.191
Refusing below 0.5 sits in the middle of the gap between the last two groups: it refuses every
wrong model and every misaligned import measured (a margin of 0.3) and keeps every vector the
model made of the same picture (0.1). Warning below 0.95 flags vectors that are the model's but not
of the files as they are (other copies, or some rows out of line): they are searchable, but a
reachable file keeps its imported vector, as its content id says it is known (pipeline/importing.py).

When no sampled file can be read and decoded, nothing is checked and the summary says so.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from ..errors import ModelMismatchError
from ..models.image_encoder import encode_images

SAMPLE = 8
CANDIDATES = 2 * SAMPLE      # files kept in reserve for samples that turn out not to decode
MIN_MEAN_COSINE = 0.5    # below: refused
WARN_MEAN_COSINE = 0.95  # below: imported with a warning


@dataclass
class Reservoir:
    """A uniform sample of (path, vector) over every reachable row seen, with a fixed seed."""
    size: int = CANDIDATES
    seen: int = 0
    items: list[tuple[str, np.ndarray]] = field(default_factory=list)
    rng: np.random.Generator = field(default_factory=lambda: np.random.default_rng(0))

    def offer(self, path: str, vec: np.ndarray) -> None:
        self.seen += 1
        if len(self.items) < self.size:
            self.items.append((path, vec.copy()))
            return
        j = int(self.rng.integers(self.seen))
        if j < self.size:
            self.items[j] = (path, vec.copy())


@dataclass
class ModelCheck:
    sample: int                    # photos encoded and compared
    mean_cosine: float | None      # None when nothing could be checked

    @property
    def warning(self) -> str | None:
        if self.mean_cosine is None:
            return ("the vectors could not be checked against the model: no imported path is an image file readable "
                    "on this machine")
        if self.mean_cosine < WARN_MEAN_COSINE:
            return (f"the vectors are not quite the model's for these files: {self.sample} photos encoded now have a "
                    f"mean cosine of {self.mean_cosine:.2f} to their imported vectors (a faithful export gives "
                    f"{WARN_MEAN_COSINE} or more); were they computed from other copies (resized, recompressed), or "
                    f"are some rows out of line with their paths?")
        return None

    def to_json(self) -> dict[str, Any]:
        return {"sample": self.sample, "mean_cosine": None if self.mean_cosine is None else round(self.mean_cosine, 4),
                "refused_below": MIN_MEAN_COSINE, "warned_below": WARN_MEAN_COSINE}


def check_against_model(handle, candidates: list[tuple[str, np.ndarray]], model_name: str) -> ModelCheck:
    """Encode up to SAMPLE of the candidate files with `handle` and compare; raises
    ModelMismatchError when the imported vectors do not look like the model's."""
    from .decode import decode_file

    pixels, imported = [], []
    preprocess = None
    for path, vec in candidates:
        if len(pixels) == SAMPLE:
            break
        preprocess = preprocess or handle.preprocess
        d = decode_file(Path(path), preprocess)
        if d.pixels is not None:
            pixels.append(d.pixels)
            imported.append(vec)
    if not pixels:
        return ModelCheck(0, None)
    mine = encode_images(handle, np.stack(pixels))
    cos = np.sum(mine * np.stack(imported), axis=1)
    mean = float(cos.mean())
    if mean < MIN_MEAN_COSINE:
        raise ModelMismatchError(
            f"these vectors do not look like {model_name!r}'s: {len(pixels)} of the imported photos encoded now with it "
            f"have a mean cosine of {mean:.2f} to their imported vectors (the model's own give 0.95 or more, another "
            f"model's or other photos' about 0); were they computed with another model, or are the rows' paths out "
            f"of line with the vectors? Nothing was imported.")
    return ModelCheck(len(pixels), mean)
