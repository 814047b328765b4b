"""End-to-end ingest rate against the encoder's own forward rate, on the same real photos.

    python benchmarks/ingest.py [--n 1024] [--upscale 0] [--batch 32]

1. decodes N Flickr8k photos once and times the encoder alone on them (batches of --batch,
   already preprocessed): the ceiling;
2. times `vsearch.ingest` of the same files into a fresh collection (scan, hash, decode in
   worker processes, encode, write shards, build the index, commit);
and prints both rates and their ratio. --upscale S first re-saves each photo as an S-pixel-wide
JPEG, to look like camera files (decode cost then matters).
"""
from __future__ import annotations

import argparse
import shutil
import tempfile
import time
from pathlib import Path

import numpy as np
from PIL import Image


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--n", type=int, default=1024)
    ap.add_argument("--batch", type=int, default=32)
    ap.add_argument("--upscale", type=int, default=0)
    ap.add_argument("--flickr", type=Path, default=Path(__file__).resolve().parents[2] / "shared/data/flickr8k")
    args = ap.parse_args()

    from vsearch.models import load_model
    from vsearch.pipeline.decode import decode_files
    from vsearch.pipeline.encode import ImageEncoder, batched

    tmp = Path(tempfile.mkdtemp(prefix="vsearch-ingest-bench-"))
    photos = tmp / "photos"
    photos.mkdir()
    for p in sorted((args.flickr / "images").iterdir())[: args.n]:
        if args.upscale:
            im = Image.open(p)
            im.resize((args.upscale, args.upscale * 3 // 4), Image.Resampling.BILINEAR).save(photos / p.name, quality=90)
        else:
            shutil.copy(p, photos / p.name)
    files = sorted(photos.iterdir())
    model = load_model()

    pixels = [d.pixels for d in decode_files(files, model.preprocess, workers=0)]
    encoder = ImageEncoder(model)  # the backend ingest uses (ONNX Runtime on a CPU)
    encoder(pixels[: args.batch])  # warm-up
    t = time.perf_counter()
    for b in batched(pixels, args.batch):
        encoder(b)
    forward = len(pixels) / (time.perf_counter() - t)

    from vsearch.pipeline.config import IngestConfig
    from vsearch.pipeline.local import ingest

    # The model is loaded once up front (as in the forward measurement): this compares the
    # steady-state pipeline — scan, hash, decode, encode, shards, index, commit — with the encoder.
    t = time.perf_counter()
    s = ingest(IngestConfig(root=photos, home=tmp / "home", batch_size=args.batch), model=model)
    wall = time.perf_counter() - t
    rate = s.images / wall
    print(f"photos {len(files)}  size {'%dx%d' % (args.upscale, args.upscale * 3 // 4) if args.upscale else '224x224'}  "
          f"batch {args.batch}  model {model.name}  encoder {encoder.backend}")
    print(f"{'encoder forward (decoded)':<32}{forward:>8.1f} images/s")
    print(f"{'ingest end to end':<32}{rate:>8.1f} images/s")
    print(f"{'ratio ingest / forward':<32}{rate / forward:>8.2f}")
    shutil.rmtree(tmp)
    assert np.isfinite(rate)


if __name__ == "__main__":
    main()
