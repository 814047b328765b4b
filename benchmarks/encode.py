"""Image-tower and text-tower throughput of a model on this machine, per backend.

    python benchmarks/encode.py [--model align-lite] [--batch 32] [--repeats 5]

Prints images/s (preprocessed 224x224 batches, decode excluded) for eager PyTorch (NCHW),
channels_last, ONNX Runtime fp32 and ONNX Runtime int8 (static QDQ), the ratio of each to eager,
and texts/s for the text tower. Medians of --repeats timed batches after a warm-up.
With --flickr DIR it also reports the cosine agreement of each backend with eager on real photos.
"""
from __future__ import annotations

import argparse
import statistics
import time
from pathlib import Path

import numpy as np
import torch


def timed(fn, repeats: int) -> float:
    fn()
    times = []
    for _ in range(repeats):
        t = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t)
    return statistics.median(times)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--model", default="align-lite")
    ap.add_argument("--batch", type=int, default=32)
    ap.add_argument("--repeats", type=int, default=5)
    ap.add_argument("--flickr", type=Path, default=Path(__file__).resolve().parents[2] / "shared/data/flickr8k")
    ap.add_argument("--backends", default="eager,channels_last,onnx,onnx-int8")
    ap.add_argument("--untrained", action="store_true", help="pretrained towers with fresh heads (speed only; for variants with no shipped weights)")
    args = ap.parse_args()

    from vsearch.models import load_model
    from vsearch.models.onnx_export import OnnxImageEncoder, export_image_tower, quantize_int8
    from vsearch.pipeline.encode import iter_decoded

    if args.untrained:
        from vsearch.models import build_untrained

        model = build_untrained(args.model).eval()
    else:
        model = load_model(args.model)
    size = model.preprocess.size
    names = sorted((args.flickr / "images").iterdir())[: max(args.batch, 64)] if (args.flickr / "images").is_dir() else []
    if names:
        pix = np.stack([d.pixels for d in iter_decoded(names, model.preprocess, workers=0)])
        real = model.preprocess.normalize(pix)
    else:
        real = torch.randn(64, 3, size, size)
    x = real[: args.batch].contiguous()
    rows = []
    ref = model.encode_images(x.contiguous())

    def agree(v):
        return float((np.asarray(v) * ref).sum(1).mean())

    for backend in args.backends.split(","):
        if backend == "eager":
            fn = lambda: model.encode_images(x.contiguous())  # noqa: E731
            out = fn()
        elif backend == "channels_last":
            model.to(memory_format=torch.channels_last)
            xc = x.contiguous(memory_format=torch.channels_last)
            fn = lambda: model.encode_images(xc)  # noqa: E731
            out = fn()
        elif backend in ("onnx", "onnx-int8"):
            path = export_image_tower(model)
            if backend == "onnx-int8":
                path = quantize_int8(path, real.contiguous().numpy())
            enc = OnnxImageEncoder(path)
            fn = lambda: enc.encode(x)  # noqa: E731
            out = fn()
        else:
            raise SystemExit(f"unknown backend {backend}")
        s = timed(fn, args.repeats)
        rows.append((backend, args.batch / s, agree(out)))

    texts = ["a black dog and a spotted dog are fighting on the road"] * 256
    ts = timed(lambda: model.encode_texts(texts), args.repeats)
    base = rows[0][1]
    print(f"model {model.name}  batch {args.batch}  threads {torch.get_num_threads()}  input {size}x{size}")
    print(f"{'backend':<15}{'images/s':>10}{'x eager':>10}{'cos vs eager':>14}")
    for name, ips, cos in rows:
        print(f"{name:<15}{ips:>10.1f}{ips / base:>10.2f}{cos:>14.4f}")
    print(f"{'text tower':<15}{256 / ts:>10.1f} texts/s (batch 256)")


if __name__ == "__main__":
    main()
