"""Near-copies of Flickr8k photos, as a photo library really holds them, for measuring the
near-duplicate groups (tests/test_duplicates*.py, benchmarks/duplicates.py).

Every photo of the chosen list is written once as an "original" (its Flickr8k bytes with an EXIF
block added losslessly: a capture date and a camera, and an old file time). For `sources` of
them, one copy per kind of EDITS is written beside it (newer file times; whether the EXIF block
survives depends on the edit, as with real tools). For `bursts` further photos, the photo itself
is left out and two overlapping windows of it, shifted by 15 % of its width, are written instead:
the nearest a still photo comes to two frames of a burst (same scene, the camera moved; nothing in
the scene moved, so they are easier than a real burst).

`SAME_PHOTO` is the set of edits a person calls "the same photo" (the precision/recall target is
measured over them); `OTHER` are reported on their own (see their notes).
"""
from __future__ import annotations

import io
import os
import random
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Callable

import numpy as np
from PIL import Image, ImageDraw, ImageEnhance, ImageFilter, ImageFont, ImageOps

ORIGINAL_TIME = 1_420_070_400  # 2015-01-01: originals' file time; edits are later
EDIT_TIME = 1_600_000_000      # 2020-09-13


@dataclass(frozen=True)
class Item:
    path: str     # relative to the library root
    source: str   # the Flickr8k photo it came from
    kind: str     # "original", an EDITS kind, or "burst"


@dataclass(frozen=True)
class Edit:
    make: Callable[[Image.Image, random.Random], Image.Image]
    fmt: str = "JPEG"              # the copy's file format
    save: tuple = ()               # Pillow save options, as (key, value) pairs
    keep_exif: bool = True         # the tool keeps the EXIF block
    note: str = ""


def _sepia(img: Image.Image, rng: random.Random) -> Image.Image:
    return ImageOps.colorize(ImageOps.grayscale(img), (40, 26, 13), (255, 240, 192))


def _crop(keep: float) -> Callable[[Image.Image, random.Random], Image.Image]:
    def crop(img: Image.Image, rng: random.Random) -> Image.Image:
        w, h = img.size
        cw, ch = round(w * keep), round(h * keep)
        x, y = rng.randint(0, w - cw), rng.randint(0, h - ch)
        return img.crop((x, y, x + cw, y + ch))
    return crop


def _rotate(img: Image.Image, rng: random.Random) -> Image.Image:
    """Straightened by 2-5 degrees as an editor does it: rotated, then cropped to the largest
    centred rectangle with no empty corner (so it is also a little smaller)."""
    import math

    angle = rng.uniform(2, 5) * rng.choice((-1, 1))
    w, h = img.size
    a = math.radians(abs(angle))
    side = min(w, h) / (math.cos(a) + math.sin(a))
    out = img.rotate(angle, resample=Image.Resampling.BICUBIC)
    left, top = (w - side) / 2, (h - side) / 2
    return out.crop((round(left), round(top), round(left + side), round(top + side)))


def _watermark(img: Image.Image, rng: random.Random) -> Image.Image:
    out = img.convert("RGBA")
    layer = Image.new("RGBA", out.size, (0, 0, 0, 0))
    d = ImageDraw.Draw(layer)
    font = ImageFont.load_default(size=max(10, img.size[1] // 14))
    text = f"\u00a9 {rng.randint(2012, 2023)} J. Smith Photography"
    w, h = img.size
    box = d.textbbox((0, 0), text, font=font)
    d.text((w - (box[2] - box[0]) - 6, h - (box[3] - box[1]) - 8), text, font=font, fill=(255, 255, 255, 170))
    return Image.alpha_composite(out, layer).convert("RGB")


def _light(img: Image.Image, rng: random.Random) -> Image.Image:
    b = rng.choice((0.75, 1.3))
    return ImageEnhance.Contrast(ImageEnhance.Brightness(img).enhance(b)).enhance(rng.uniform(1.1, 1.3))


EDITS: dict[str, Edit] = {
    "resave": Edit(lambda img, rng: img, save=(("quality", 50),), note="re-saved as JPEG quality 50"),
    "resize": Edit(lambda img, rng: img.resize((img.size[0] // 2, img.size[1] // 2), Image.Resampling.LANCZOS),
                   save=(("quality", 85),), note="half the width and height (an export for the web)"),
    "crop": Edit(_crop(0.8), note="80 % of each side kept, anywhere (a trim)"),
    "light": Edit(_light, note="brightness x0.75 or x1.3, contrast x1.1-1.3"),
    "sepia": Edit(_sepia, note="a sepia filter"),
    "grayscale": Edit(lambda img, rng: ImageOps.grayscale(img).convert("RGB"), note="black and white"),
    "blur": Edit(lambda img, rng: img.filter(ImageFilter.GaussianBlur(1.5)), note="Gaussian blur, radius 1.5 px"),
    "sharpen": Edit(lambda img, rng: img.filter(ImageFilter.UnsharpMask(2, 150, 2)), note="unsharp mask"),
    "exif_stripped": Edit(lambda img, rng: img, fmt="strip", keep_exif=False,
                          note="the EXIF block removed without re-encoding (exiftool -all=)"),
    "rotate": Edit(_rotate, note="straightened by 2-5 degrees and cropped to fill"),
    "watermark": Edit(_watermark, note="a copyright line across the bottom right"),
    "png": Edit(lambda img, rng: img, fmt="PNG", keep_exif=False, note="converted to PNG"),
    "webp": Edit(lambda img, rng: img, fmt="WEBP", save=(("quality", 80),), keep_exif=False,
                 note="converted to WebP quality 80"),
}
SAME_PHOTO = tuple(EDITS)
# Reported on their own, outside the target: see benchmarks/duplicates.py's notes.
OTHER = {
    "crop_tight": Edit(_crop(0.55), note="55 % of each side kept (30 % of the picture): a detail, a new picture"),
}
ALL_EDITS = {**EDITS, **OTHER}


def exif_block(index: int) -> bytes:
    exif = Image.Exif()
    exif[271], exif[272] = "Canon", "Canon EOS 600D"          # make, model
    exif[306] = f"2014:{1 + index % 12:02d}:{1 + index % 28:02d} 10:{index % 60:02d}:00"  # DateTime
    return exif.tobytes()


def with_exif(jpeg: bytes, exif: bytes) -> bytes:
    """The JPEG with an APP1 EXIF segment inserted after its start marker, pixels untouched."""
    assert jpeg[:2] == b"\xff\xd8"
    payload = b"Exif\x00\x00" + exif
    return jpeg[:2] + b"\xff\xe1" + (len(payload) + 2).to_bytes(2, "big") + payload + jpeg[2:]


def without_app1(jpeg: bytes) -> bytes:
    """The JPEG without its APP1 (EXIF/XMP) segments, pixels untouched."""
    out, pos = [jpeg[:2]], 2
    while pos + 4 <= len(jpeg) and jpeg[pos] == 0xFF and jpeg[pos + 1] not in (0xDA, 0xD9):
        length = int.from_bytes(jpeg[pos + 2:pos + 4], "big")
        if jpeg[pos + 1] != 0xE1:
            out.append(jpeg[pos:pos + 2 + length])
        pos += 2 + length
    out.append(jpeg[pos:])
    return b"".join(out)


def _write(path: Path, data: bytes, mtime: int) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)
    os.utime(path, (mtime, mtime))


def _encode(img: Image.Image, edit: Edit, exif: bytes) -> bytes:
    buf = io.BytesIO()
    options = dict(edit.save)
    if edit.fmt == "JPEG":
        options.setdefault("quality", 92)
        if edit.keep_exif:
            options["exif"] = exif
    img.save(buf, format=edit.fmt, **options)
    return buf.getvalue()


def build(images: Path, names: list[str], root: Path, sources: int, bursts: int = 0, seed: int = 0,
          kinds: tuple[str, ...] | None = None) -> list[Item]:
    """Write the library under `root` from the Flickr8k `images` folder: every name in `names` as
    an original except the last `bursts` (two burst frames each instead); the first `sources`
    also get one copy per edit kind (`kinds`, default every kind of ALL_EDITS)."""
    rng = random.Random(seed)
    kinds = tuple(ALL_EDITS) if kinds is None else kinds
    items: list[Item] = []
    plain = names[:len(names) - bursts]
    for i, name in enumerate(plain):
        stem = Path(name).stem
        exif = exif_block(i)
        original = with_exif((images / name).read_bytes(), exif)
        _write(root / "originals" / f"{stem}.jpg", original, ORIGINAL_TIME + i)
        items.append(Item(f"originals/{stem}.jpg", name, "original"))
        if i >= sources:
            continue
        with Image.open(images / name) as im:
            pixels = im.convert("RGB")
        for j, kind in enumerate(kinds):
            edit = ALL_EDITS[kind]
            if edit.fmt == "strip":
                data = without_app1(original)
            else:
                data = _encode(edit.make(pixels, rng), edit, exif)
            ext = {"JPEG": "jpg", "strip": "jpg"}.get(edit.fmt, edit.fmt.lower())
            rel = f"edits/{kind}/{stem}.{ext}"
            _write(root / rel, data, EDIT_TIME + i * 100 + j)
            items.append(Item(rel, name, kind))
    for i, name in enumerate(names[len(plain):]):
        with Image.open(images / name) as im:
            pixels = im.convert("RGB")
        w, h = pixels.size
        cw, ch = round(w * 0.85), round(h * 0.85)
        dy = rng.randint(0, h - ch)
        for k, x in enumerate((0, w - cw)):  # left and right windows: 15 % of the width apart
            frame = pixels.crop((x, dy, x + cw, dy + ch))
            rel = f"bursts/{Path(name).stem}-{k}.jpg"
            _write(root / rel, _encode(frame, Edit(lambda im, r: im), exif_block(10_000 + 2 * i + k)), ORIGINAL_TIME + 5000 + 2 * i + k)
            items.append(Item(rel, name, "burst"))
    return items


def items_json(items: list[Item]) -> list[dict]:
    return [asdict(i) for i in items]


def collection_pairs(home: Path, root: Path, collection: str = "bench", signatures: bool = True):
    """(images table, near pairs, seconds a search for them took) of the library ingested into
    `home`'s `collection`. The pairs are those its ingest stored; the seconds, those of finding
    them all again from the shards (what `vsearch reindex` does). Without `signatures`: the pairs
    the vectors alone find (no pixel signals)."""
    from vsearch.duplicates import Batch, find_pairs
    from vsearch.duplicates.pairs import from_table
    from vsearch.pipeline.derived.duplicates import SIGNATURE_COLUMNS, as_batch
    from vsearch.pipeline.derived.sources import ShardVectors
    from vsearch.store.collection import CollectionStore
    from vsearch.store.tables import DUPLICATES_SCHEMA, int64_column

    store = CollectionStore(home / collection)
    images = store.images()
    ids = np.unique(int64_column(images, "id"))
    dim = store.manifest.model.embed_dim
    shards = ShardVectors(store.vectors(dim), ids, store.name)
    if signatures:
        batches = [as_batch(i, v, c) for i, v, c in shards.rows(SIGNATURE_COLUMNS)]
    else:
        batches = [Batch(i, v) for i, v in shards.chunks()]
    t = time.perf_counter()
    pairs = find_pairs(batches, len(ids), dim)
    took = time.perf_counter() - t
    if signatures:
        pairs = from_table(store.read_table("duplicates", DUPLICATES_SCHEMA))
    return images, pairs, took


# ------------------------------------------------------------------------------ scoring
@dataclass
class Score:
    precision: float
    recall: float
    true_pairs: int         # pairs of the same photo (SAME_PHOTO edits and their original)
    found: int              # of those, grouped together
    false_pairs: int        # pairs of different photos grouped together
    photos_misgrouped: int  # photos in at least one false pair
    by_kind: dict           # kind -> {"recall", "precision", "pairs"}: the copy grouped with its original
    bursts: float           # share of burst pairs grouped together (outside the target)
    other: dict             # OTHER kind -> share grouped with its original (outside the target)
    keeper_is_original: float  # groups holding an original: share whose keeper is it


def score_groups(groups, items: list[Item], paths: list[str]) -> Score:
    """Pair precision and recall of `groups` (duplicates.Group, rows into `paths`: the images
    table's `path` column, relative to the library root) against the library's truth."""
    info = {i.path: i for i in items}
    counted = set(SAME_PHOTO) | {"original"}
    by_source: dict[str, dict[str, int]] = {}
    for it in items:
        by_source.setdefault(it.source, {}).setdefault(it.kind, 0)
        by_source[it.source][it.kind] += 1
    true_total = sum(_pairs(sum(n for k, n in kinds.items() if k in counted)) for kinds in by_source.values())
    found = false = 0
    misgrouped: set[str] = set()
    kind_found: dict[str, int] = {}
    kind_false: dict[str, int] = {}
    burst_found = keeper_ok = keeper_groups = 0
    other_found: dict[str, int] = {}
    for g in groups:
        members = [info[paths[r]] for r in g.rows]
        if any(m.kind == "original" for m in members):
            keeper_groups += 1
            keeper_ok += members[0].kind == "original"
        for x in range(len(members)):
            for y in range(x + 1, len(members)):
                a, b = members[x], members[y]
                if a.source != b.source:
                    false += 1
                    misgrouped.update((a.path, b.path))
                    for m in (a, b):
                        kind_false[m.kind] = kind_false.get(m.kind, 0) + 1
                    continue
                kinds = {a.kind, b.kind}
                if kinds <= counted:
                    found += 1
                if kinds == {"burst"}:
                    burst_found += 1
                if "original" in kinds and len(kinds) == 2:
                    (k,) = kinds - {"original"}
                    target = kind_found if k in counted else other_found
                    target[k] = target.get(k, 0) + 1
    kinds_total = {k: sum(kinds.get(k, 0) * min(1, kinds.get("original", 0)) for kinds in by_source.values())
                   for k in ALL_EDITS}
    bursts_total = sum(_pairs(kinds.get("burst", 0)) for kinds in by_source.values())
    by_kind = {}
    for k in SAME_PHOTO:
        n, f, bad = kinds_total[k], kind_found.get(k, 0), kind_false.get(k, 0)
        by_kind[k] = {"recall": f / n if n else float("nan"), "precision": f / (f + bad) if f + bad else 1.0, "pairs": n}
    return Score(precision=found / (found + false) if found + false else 1.0, recall=found / true_total if true_total else 1.0,
                 true_pairs=true_total, found=found, false_pairs=false, photos_misgrouped=len(misgrouped),
                 by_kind=by_kind, bursts=burst_found / bursts_total if bursts_total else float("nan"),
                 other={k: other_found.get(k, 0) / kinds_total[k] if kinds_total[k] else float("nan") for k in OTHER},
                 keeper_is_original=keeper_ok / keeper_groups if keeper_groups else float("nan"))


def _pairs(n: int) -> int:
    return n * (n - 1) // 2
