"""Image encoder precision: speed and agreement with fp32, per precision, on this machine.

    python benchmarks/precision.py [--photos 256] [--batch 32] [--repeats 7] [--ingest 512 --ingest-repeats 3]

1. Encoder rows, on --photos Flickr8k *dev* photos decoded once (decode excluded), batches of
   --batch through the path ingest uses (uint8 pixels -> normalise -> graph):
     fp32 (ONNX Runtime)    the default
     int8 (ONNX Runtime)    `--precision int8`: the export quantised with the shipped calibration
     torch fp32 / bf16      eager PyTorch (channels_last) without and with CPU bf16 autocast: the
                            bf16 candidate (ONNX Runtime has no bf16 convolutions on x86 CPUs)
   Timed batches of every row in turn (machine load falls on all alike), --repeats rounds; prints
   each row's median images/s, its ratio to fp32 paired by round, and the cosine of its vectors to
   fp32's (mean and lowest over the photos).
2. --ingest N: `vsearch ingest` of N Flickr8k photos into a fresh collection at each precision
   (model by name, default options, exports made by an untimed warm-up), in turn, --ingest-repeats
   times: median images/s and the ratio to fp32.
Dev Recall@1 at each precision: `vsearch eval DATA --split dev --precision fp32|int8 --json`.
"""
from __future__ import annotations

import argparse
import shutil
import tempfile
import time
from pathlib import Path

import numpy as np

from flickr import add_flickr_option


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--photos", type=int, default=256)
    ap.add_argument("--batch", type=int, default=32)
    ap.add_argument("--repeats", type=int, default=7)
    ap.add_argument("--no-torch", action="store_true", help="skip the PyTorch rows (no model build)")
    ap.add_argument("--ingest", type=int, default=0, help="also ingest this many photos at each precision")
    ap.add_argument("--ingest-repeats", type=int, default=3)
    add_flickr_option(ap)
    args = ap.parse_args()

    from vsearch.evaluation.pairs import load_pairs
    from vsearch.models.handle import ModelHandle
    from vsearch.models.image_encoder import encoder_for
    from vsearch.evaluation.encoding import decode_pixels

    handle = ModelHandle.open()
    dev = load_pairs(args.flickr, "dev", limit=args.photos)
    pixels = np.stack(list(decode_pixels(dev.images, handle.preprocess)))
    batches = [pixels[i:i + args.batch] for i in range(0, len(pixels) - args.batch + 1, args.batch)]

    rows = {}  # name: encode(uint8 batch) -> vectors
    for precision in ("fp32", "int8"):
        encoder = encoder_for(ModelHandle.open(handle, precision=precision))
        rows[f"{precision} (ONNX Runtime)"] = lambda b, encoder=encoder: encoder.encode(b)[0]
    if not args.no_torch:
        rows.update(_torch_rows(handle))
    vectors = {name: np.concatenate([np.asarray(enc(b), np.float32) for b in batches])  # also warms each up
               for name, enc in rows.items()}
    times: dict[str, list[float]] = {name: [] for name in rows}
    for _ in range(args.repeats):
        for name, enc in rows.items():
            t = time.perf_counter()
            for b in batches:
                enc(b)
            times[name].append(time.perf_counter() - t)
    images = sum(len(b) for b in batches)
    base = "fp32 (ONNX Runtime)"
    ref = vectors[base] / np.linalg.norm(vectors[base], axis=1, keepdims=True)
    print(f"{images} Flickr8k dev photos, batches of {args.batch}, {args.repeats} rounds (medians); model {handle.name}")
    print(f"{'encoder':<24}{'images/s':>10}{'vs fp32':>9}{'cos mean':>10}{'cos min':>9}")
    for name in rows:
        v = vectors[name] / np.linalg.norm(vectors[name], axis=1, keepdims=True)
        cos = np.sum(v * ref, axis=1)
        ratio = np.median([b / t for t, b in zip(times[name], times[base])])
        print(f"{name:<24}{images / np.median(times[name]):>10.1f}{ratio:>8.2f}x{cos.mean():>10.4f}{cos.min():>9.4f}")
    if args.ingest:
        ingest_rates(args.flickr, args.ingest, args.ingest_repeats)


def _torch_rows(handle) -> dict:
    import torch

    model = handle.torch_model()
    model.to(memory_format=torch.channels_last)
    pp = model.preprocess

    def fp32(b: np.ndarray) -> np.ndarray:
        with torch.inference_mode():
            return model.encode_images(pp.normalize(b))

    def bf16(b: np.ndarray) -> np.ndarray:
        with torch.inference_mode(), torch.autocast("cpu", dtype=torch.bfloat16):
            return np.asarray(model.encode_images(pp.normalize(b)), dtype=np.float32)

    return {"torch fp32": fp32, "torch bf16 autocast": bf16}


def ingest_rates(flickr: Path, n: int, repeats: int) -> None:
    from vsearch.pipeline.config import IngestConfig
    from vsearch.pipeline.local import ingest

    tmp = Path(tempfile.mkdtemp(prefix="vsearch-precision-"))
    photos = tmp / "photos"
    photos.mkdir()
    for p in sorted((flickr / "images").iterdir())[:n]:
        shutil.copy(p, photos / p.name)
    precisions = ("fp32", "int8")
    for precision in precisions:  # warm-up: exports and the int8 graph, page cache
        ingest(IngestConfig(root=photos, home=tmp / f"warm-{precision}", precision=precision))
    walls: dict[str, list[float]] = {p: [] for p in precisions}
    for r in range(repeats):
        for precision in precisions:
            t = time.perf_counter()
            s = ingest(IngestConfig(root=photos, home=tmp / f"{r}-{precision}", precision=precision))
            walls[precision].append(time.perf_counter() - t)
            assert s.encoded == n, (precision, s.encoded)
    shutil.rmtree(tmp)
    print(f"\n`vsearch ingest` of {n} Flickr8k photos, {repeats} runs each (medians)")
    print(f"{'precision':<12}{'images/s':>10}{'vs fp32':>9}")
    for precision in precisions:
        ratio = np.median([f / w for w, f in zip(walls[precision], walls["fp32"])])
        print(f"{precision:<12}{n / np.median(walls[precision]):>10.1f}{ratio:>8.2f}x")


if __name__ == "__main__":
    main()
