"""Image–caption benchmark folders: `images/`, `captions.csv` (image,caption) or `captions.parquet`,
and `splits/<split>.txt` (one image file name a line) — the Flickr8k layout."""
from __future__ import annotations

import csv
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..errors import VsearchError


@dataclass(frozen=True)
class Pairs:
    root: Path
    split: str
    images: list[Path]          # one per image
    captions: list[str]         # all captions of those images
    caption_image: np.ndarray   # int64 [n_captions]: index into images

    @property
    def image_names(self) -> list[str]:
        return [p.name for p in self.images]


def _read_captions(root: Path) -> dict[str, list[str]]:
    by_image: dict[str, list[str]] = {}
    if (root / "captions.parquet").is_file():
        import pyarrow.parquet as pq

        t = pq.read_table(root / "captions.parquet", columns=["image", "caption"]).to_pydict()
        rows = zip(t["image"], t["caption"])
    elif (root / "captions.csv").is_file():
        with open(root / "captions.csv", newline="", encoding="utf-8") as f:
            rows = [(r["image"], r["caption"]) for r in csv.DictReader(f)]
    else:
        raise VsearchError(f"{root} has no captions.csv or captions.parquet (columns: image, caption)")
    for image, caption in rows:
        by_image.setdefault(image, []).append(caption.strip())
    return by_image


def load_pairs(root: str | Path, split: str | None = "train", limit: int | None = None) -> Pairs:
    """Images of a split (all captioned images if split is None) with their captions, in split-file order."""
    root = Path(root)
    if not (root / "images").is_dir():
        raise VsearchError(f"{root} is not a benchmark folder: it needs images/, captions.csv and splits/")
    by_image = _read_captions(root)
    if split is None:
        names = sorted(by_image)
    else:
        split_file = root / "splits" / f"{split}.txt"
        if not split_file.is_file():
            have = sorted(p.stem for p in (root / "splits").glob("*.txt")) if (root / "splits").is_dir() else []
            raise VsearchError(f"no split {split!r} in {root}/splits (have: {', '.join(have) or 'none'})")
        names = [n.strip() for n in split_file.read_text().splitlines() if n.strip()]
    names = [n for n in names if n in by_image]
    if limit:
        names = names[:limit]
    captions, owner = [], []
    for i, n in enumerate(names):
        captions += by_image[n]
        owner += [i] * len(by_image[n])
    return Pairs(root, split or "all", [root / "images" / n for n in names], captions, np.asarray(owner, dtype=np.int64))
