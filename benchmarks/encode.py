"""Image-tower and text-tower throughput of a model on this machine, per backend.

    python benchmarks/encode.py [--model align-lite] [--batch 32] [--repeats 5]

Prints images/s (preprocessed batches at the model's input size, decode excluded) for eager
PyTorch (NCHW), channels_last, ONNX Runtime fp32 and ONNX Runtime int8 (static QDQ), the ratio of
each to eager, and texts/s for the text tower. Medians of --repeats timed batches after a warm-up.
With --flickr DIR it also reports the cosine agreement of each backend with eager on real photos.

Optional backends (`pip install openvino nncf`, not vsearch dependencies):
  openvino       OpenVINO fp32 on the same ONNX graph;
  openvino-int8  NNCF post-training int8, calibrated on 512 Flickr8k *train* photos, with the stem
                 conv, the depthwise convs, conv_head and the projection head left in fp32 (the
                 layers whose quantisation moved the vectors most).
--dev-recall adds Flickr8k dev R@1 (text->image / image->text) per backend: the issue keeps an
approximation only if dev R@1 moves by less than 0.5.
"""
from __future__ import annotations

import argparse
import statistics
import time
from pathlib import Path

import numpy as np
import torch

from flickr import add_flickr_option


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
    add_flickr_option(ap)
    ap.add_argument("--backends", default="eager,channels_last,onnx,onnx-int8")
    ap.add_argument("--dev-recall", action="store_true", help="also Flickr8k dev R@1 per backend (decodes 1,000 photos)")
    ap.add_argument("--untrained", action="store_true", help="pretrained towers with fresh heads (speed only; for variants with no shipped weights)")
    args = ap.parse_args()

    from vsearch.models import load_model
    from vsearch.models.onnx_export import export_image_tower, quantize_int8
    from vsearch.models.onnx_runtime import OnnxImageEncoder
    from vsearch.pipeline.decode import decode_files

    if args.untrained:
        from vsearch.models import build_untrained

        model = build_untrained(args.model).eval()
    else:
        model = load_model(args.model)
    size = model.preprocess.size
    names = sorted((args.flickr / "images").iterdir())[: max(args.batch, 64)] if (args.flickr / "images").is_dir() else []
    if names:
        pix = np.stack([d.pixels for d in decode_files(names, model.preprocess, workers=0)])
        real = model.preprocess.normalize(pix)
    else:
        real = torch.randn(64, 3, size, size)
    x = real[: args.batch].contiguous()
    rows = []
    ref = model.encode_images(x.contiguous())
    recall = _dev_recall(model, args.flickr) if args.dev_recall else None

    def agree(v):
        return float((np.asarray(v) * ref).sum(1).mean())

    for backend in args.backends.split(","):
        # encode(float batch) -> vectors; timed on the benchmark batch, reused for dev recall.
        if backend == "eager":
            encode = lambda b: model.encode_images(torch.as_tensor(b).contiguous())  # noqa: E731
        elif backend == "channels_last":
            model.to(memory_format=torch.channels_last)
            encode = lambda b: model.encode_images(torch.as_tensor(b).contiguous(memory_format=torch.channels_last))  # noqa: E731
        elif backend in ("onnx", "onnx-int8"):
            path = export_image_tower(model)
            if backend == "onnx-int8":
                path = quantize_int8(path, real.contiguous().numpy())
            encode = OnnxImageEncoder(path).encode
        elif backend in ("openvino", "openvino-int8"):
            encode = _openvino_encoder(export_image_tower(model), backend.endswith("int8"), model, args.flickr)
        else:
            raise SystemExit(f"unknown backend {backend}")
        fn = lambda: encode(x)  # noqa: E731
        out = fn()
        s = timed(fn, args.repeats)
        rows.append((backend, args.batch / s, agree(out), recall(encode) if recall else None))

    texts = ["a black dog and a spotted dog are fighting on the road"] * 256
    ts = timed(lambda: model.encode_texts(texts), args.repeats)
    base = rows[0][1]
    print(f"model {model.name}  batch {args.batch}  threads {torch.get_num_threads()}  input {size}x{size}")
    print(f"{'backend':<15}{'images/s':>10}{'x eager':>10}{'cos vs eager':>14}" + ("   dev R@1 t2i / i2t" if recall else ""))
    for name, ips, cos, r in rows:
        dev = f"   {r[0]:7.2f} / {r[1]:.2f}" if r else ""
        print(f"{name:<15}{ips:>10.1f}{ips / base:>10.2f}{cos:>14.4f}{dev}")
    print(f"{'text tower':<15}{256 / ts:>10.1f} texts/s (batch 256)")


def _pixels(model, paths) -> np.ndarray:
    from vsearch.evaluation.encoding import decode_pixels

    return model.preprocess.normalize(np.stack(list(decode_pixels(paths, model.preprocess, None)))).numpy()


def _dev_recall(model, flickr: Path):
    """A function: image encoder -> (dev R@1 text->image, image->text)."""
    from vsearch.evaluation.pairs import load_pairs
    from vsearch.evaluation.recall import recall_at_k
    from vsearch.evaluation.encoding import encode_texts

    dev = load_pairs(flickr, "dev")
    pix, txt = _pixels(model, dev.images), encode_texts(model, dev.captions)

    def run(encode) -> tuple[float, float]:
        v = np.concatenate([np.asarray(encode(pix[i:i + 32]), dtype=np.float32) for i in range(0, len(pix), 32)])
        v /= np.linalg.norm(v, axis=1, keepdims=True)
        r = recall_at_k(txt @ v.T, dev.caption_image)
        return r["text_to_image"]["R@1"], r["image_to_text"]["R@1"]

    return run


def _openvino_encoder(onnx_path: Path, int8: bool, model, flickr: Path):
    try:
        import openvino as ov
    except ImportError:
        raise SystemExit("the openvino backends need: pip install openvino nncf")
    core = ov.Core()
    net = core.read_model(str(onnx_path))
    if int8:
        import nncf
        from vsearch.evaluation.pairs import load_pairs

        train = load_pairs(flickr, "train")
        pick = np.random.default_rng(0).choice(len(train.images), 512, replace=False)
        calib = _pixels(model, [train.images[i] for i in pick])
        keep_fp32 = nncf.IgnoredScope(patterns=["/head/.*", "/conv_stem/.*", "/conv_head/.*"], types=["GroupConvolution"])
        net = nncf.quantize(net, nncf.Dataset([calib[i:i + 8] for i in range(0, len(calib), 8)]),
                            preset=nncf.QuantizationPreset.PERFORMANCE, subset_size=len(calib), ignored_scope=keep_fp32)
    request = core.compile_model(net, "CPU", {"PERFORMANCE_HINT": "LATENCY"}).create_infer_request()
    return lambda b: next(iter(request.infer({0: np.ascontiguousarray(b, dtype=np.float32)}).values())).copy()


if __name__ == "__main__":
    main()
