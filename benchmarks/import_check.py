"""Where to set `vsearch import`'s model check (vsearch/pipeline/import_check.py).

    python benchmarks/import_check.py [--photos 400] [--draws 2000] [--flickr DIR]

The check encodes up to 8 imported photos with the named model and refuses the import when the
mean cosine to their imported vectors is below a threshold. This measures that mean on Flickr8k
test photos for vectors that DO come from the model, computed the ways another program might
(rows "right: ..."), for its vectors of other copies of the photos ("other copy: ..."), and for
vectors that do not come from the model or belong to other photos ("wrong: ..."):

  right: vsearch's own pipeline      what `vsearch ingest` stores (fp16), i.e. a faithful export
  right: 3x photo, full-size decode  a 3x upscaled copy (672 px, JPEG q=92) decoded in full, where
                                     vsearch decodes it at reduced size (DCT scaling)
  right: bilinear resize             another resize filter
  other copy: recompressed, q=75     vectors of a JPEG q=75 copy of each photo, and of a half-size
  other copy: half-size, q=75        q=75 copy (the file at the path is not what was encoded)
  wrong: rows shifted by one         the right model's vectors of other photos (rows out of line)
  wrong: untrained heads             another 256-d model: align-lite's towers with fresh heads
  wrong: random unit vectors         noise of the right width

For each row: the mean over `--draws` random 8-photo samples (min, 1st percentile, median, max)
and the lowest single-photo cosine. The refusal threshold belongs between the highest "wrong" maximum
and the lowest "other copy" minimum; the warning threshold below the lowest "right" minimum.
"""
from __future__ import annotations

import argparse
import dataclasses
import io
import shutil
import tempfile
from pathlib import Path

import numpy as np
from PIL import Image

from flickr import add_flickr_option

SAMPLE = 8


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--photos", type=int, default=400)
    ap.add_argument("--draws", type=int, default=2000)
    add_flickr_option(ap)
    args = ap.parse_args()

    from vsearch.models import build_untrained
    from vsearch.models.handle import ModelHandle
    from vsearch.models.image_encoder import encode_images
    from vsearch.pipeline.decode import decode_file
    from vsearch.pipeline.import_check import MIN_MEAN_COSINE, WARN_MEAN_COSINE

    names = (args.flickr / "splits" / "test.txt").read_text().split()[: args.photos]
    paths = [args.flickr / "images" / n for n in names]
    handle = ModelHandle.open("align-lite")
    tmp = Path(tempfile.mkdtemp(prefix="import-check-"))
    pre = handle.preprocess

    def encode(pixels: list[np.ndarray]) -> np.ndarray:
        return np.concatenate([encode_images(handle, np.stack(pixels[i:i + 64])) for i in range(0, len(pixels), 64)])

    def recompressed(path: Path, shrink: int) -> Image.Image:
        img = Image.open(path).convert("RGB")
        if shrink > 1:
            img = img.resize((img.width // shrink, img.height // shrink), Image.Resampling.BICUBIC)
        buf = io.BytesIO()
        img.save(buf, "JPEG", quality=75)
        return Image.open(io.BytesIO(buf.getvalue()))

    ours = [decode_file(p, pre).pixels for p in paths]
    reference = encode(ours)  # what the check computes now
    # camera-like files: 3x upscaled JPEGs, which vsearch decodes at reduced size (DCT scaling)
    big = [tmp / p.name for p in paths]
    for src, dst in zip(paths, big):
        img = Image.open(src).convert("RGB")
        img.resize((img.width * 3, img.height * 3), Image.Resampling.BICUBIC).save(dst, "JPEG", quality=92)
    bilinear = dataclasses.replace(pre, interpolation="bilinear")
    other = build_untrained("align-lite").eval()
    noise = np.random.default_rng(1).normal(size=reference.shape).astype(np.float32)
    rows = {  # name: (what the check computes now, the imported vectors)
        "right: vsearch's own pipeline": (reference, reference.astype(np.float16).astype(np.float32)),
        "right: 3x photo, full-size decode": (encode([decode_file(p, pre).pixels for p in big]),
                                              encode([pre.to_pixels(Image.open(p)) for p in big])),
        "right: bilinear resize": (reference, encode([bilinear.to_pixels(Image.open(p)) for p in paths])),
        "other copy: recompressed, q=75": (reference, encode([pre.to_pixels(recompressed(p, 1)) for p in paths])),
        "other copy: half-size, q=75": (reference, encode([pre.to_pixels(recompressed(p, 2)) for p in paths])),
        "wrong: rows shifted by one": (reference, np.roll(reference, 1, axis=0)),
        "wrong: untrained heads": (reference, np.concatenate(
            [encode_images(other, np.stack(ours[i:i + 64])) for i in range(0, len(ours), 64)])),
        "wrong: random unit vectors": (reference, noise),
    }

    rng = np.random.default_rng(0)
    draws = np.stack([rng.choice(len(paths), SAMPLE, replace=False) for _ in range(args.draws)])
    print(f"align-lite, {len(paths)} Flickr8k test photos, means of {args.draws} random {SAMPLE}-photo samples; "
          f"refused below {MIN_MEAN_COSINE}, warned below {WARN_MEAN_COSINE}")
    print(f"{'vectors':34} {'min':>7} {'p1':>7} {'median':>7} {'max':>7} {'min 1-photo':>12}")
    for name, (now, vecs) in rows.items():
        v = vecs / np.linalg.norm(vecs, axis=1, keepdims=True)
        cos = np.sum(v * now, axis=1)
        means = cos[draws].mean(axis=1)
        print(f"{name:34} {means.min():7.3f} {np.percentile(means, 1):7.3f} {np.median(means):7.3f} "
              f"{means.max():7.3f} {cos.min():12.3f}")
    shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
