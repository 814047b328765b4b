"""Camera-size photos: the cost of decoding each to the model's input, per decoding strategy.

    python benchmarks/decode.py [--photos 8] [--repeats 3] [--target 240] [--workdir DIR] [--vectors]

Makes camera-size files from Flickr8k photos upscaled to 4032x3024 (a 12 MP phone photo): JPEG
quality 92, HEIC without an embedded preview, HEIC with a 320x240 preview (what phones embed), and
times read + decode + Preprocess.to_pixels per file through vsearch.imaging for:

  JPEG full decode      the whole 12 MP frame (target=None), then scaled
  JPEG draft            DCT scaling to the smallest 1/2..1/8 scale with sides >= target
  HEIC full decode      a HEIC without a preview (libheif has no reduced-size decode)
  HEIC preview          the embedded preview, when its sides are >= target
  HEIC+preview, full    the same files decoded in full (the preview's baseline)
  filtered 320x240 HEIC a preview as a phone makes it: libheif writes previews by nearest-neighbour
                        sampling (aliased), so this row, a Lanczos-filtered 320x240 HEIC of the
                        same photo, is the fairer measure of what decoding a preview costs in fidelity
  small JPEG            the Flickr8k originals (224 px): the rate camera photos are compared with

Prints the median wall ms and CPU ms (all threads: libheif decodes with several) per file over
photos x repeats, methods interleaved so that machine load falls on all alike; the ratio to the
same files' full decode; and the mean absolute difference of the model input (uint8, 0-255) from
the full decode's, which is what a shortcut costs in fidelity; `--vectors` also gives the cosine
between align-lite's vectors of the two inputs (the cost where it matters). Upscaled photos are smoother than
real ones (~1 MB as JPEG where a phone writes 2-5 MB), so real JPEGs spend longer in entropy
decoding, which DCT scaling does not skip; `--noise SIGMA` adds sensor-like noise to come closer.
HEIC files are encoded with x265's ultrafast preset (2-3 s each instead of ~20 s); phones encode
in 512x512 tiles, which this does not reproduce.
"""
from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from pathlib import Path

import numpy as np
from PIL import Image

from flickr import add_flickr_option

CAMERA = (4032, 3024)
PREVIEW_BOX = 320  # a 320x240 preview, what phones embed in HEIC


def make_files(flickr: Path, n: int, workdir: Path, noise: float) -> dict[str, list[Path]]:
    names = sorted(p.name for p in (flickr / "images").iterdir())[:n]
    files: dict[str, list[Path]] = {"small": [], "jpeg": [], "heic": [], "heic_preview": [], "heic_filtered": []}
    rng = np.random.default_rng(0)
    for name in names:
        stem = workdir / Path(name).stem
        files["small"].append(flickr / "images" / name)
        paths = {k: stem.with_name(f"{stem.name}-{k}.{'jpg' if k == 'jpeg' else 'heic'}")
                 for k in ("jpeg", "heic", "heic_preview", "heic_filtered")}
        if not all(p.exists() for p in paths.values()):
            big = Image.open(flickr / "images" / name).convert("RGB").resize(CAMERA, Image.Resampling.BICUBIC)
            if noise:
                arr = np.asarray(big, np.float32) + rng.normal(0, noise, (CAMERA[1], CAMERA[0], 3)).astype(np.float32)
                big = Image.fromarray(np.clip(arr, 0, 255).astype(np.uint8))
            big.save(paths["jpeg"], "JPEG", quality=92)
            heif = {"quality": 80, "enc_params": {"preset": "ultrafast"}}
            big.save(paths["heic"], "HEIF", **heif)
            big.save(paths["heic_preview"], "HEIF", thumbnails=[PREVIEW_BOX], **heif)
            big.resize((PREVIEW_BOX, PREVIEW_BOX * 3 // 4), Image.Resampling.LANCZOS).save(paths["heic_filtered"], "HEIF", **heif)
        for k, p in paths.items():
            files[k].append(p)
    return files


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--photos", type=int, default=8)
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--target", type=int, default=240, help="the model's input size (align-lite: 240)")
    ap.add_argument("--noise", type=float, default=0.0, help="sensor-like Gaussian noise (sigma, 0-255 scale)")
    add_flickr_option(ap)
    ap.add_argument("--workdir", type=Path, default=None, help="keep the generated files here between runs")
    ap.add_argument("--vectors", action="store_true", help="cosine of align-lite vectors vs the full decode's (loads torch)")
    args = ap.parse_args()

    from vsearch.imaging import read_image_file
    from vsearch.models.preprocess import Preprocess

    workdir = args.workdir or Path(tempfile.mkdtemp(prefix="vsearch-decode-"))
    workdir.mkdir(parents=True, exist_ok=True)
    t = time.perf_counter()
    files = make_files(args.flickr, args.photos, workdir, args.noise)
    print(f"{args.photos} photos at {CAMERA[0]}x{CAMERA[1]} in {workdir} ({time.perf_counter() - t:.0f} s to make)\n")

    pp = Preprocess(size=args.target)
    methods = {  # name: (files, target, the method whose pixels and time it is compared with)
        "JPEG full decode": ("jpeg", None, "JPEG full decode"),
        "JPEG draft": ("jpeg", args.target, "JPEG full decode"),
        "HEIC full decode": ("heic", args.target, "HEIC full decode"),
        "HEIC+preview, full": ("heic_preview", None, "HEIC+preview, full"),
        "HEIC preview": ("heic_preview", args.target, "HEIC+preview, full"),
        "filtered 320x240 HEIC": ("heic_filtered", args.target, "HEIC+preview, full"),
        "small JPEG (224 px)": ("small", args.target, "small JPEG (224 px)"),
    }
    wall: dict[str, list[float]] = {m: [] for m in methods}
    cpu: dict[str, list[float]] = {m: [] for m in methods}
    pixels: dict[str, list[np.ndarray]] = {m: [] for m in methods}
    sizes: dict[str, list[tuple[int, int]]] = {m: [] for m in methods}
    for r in range(args.repeats + 1):  # the first round warms caches and is not counted
        for i in range(args.photos):
            for m, (kind, target, _) in methods.items():
                path = files[kind][i]
                t0, c0 = time.perf_counter(), time.process_time()
                px = pp.to_pixels(read_image_file(path, target).image)
                t1, c1 = time.perf_counter(), time.process_time()
                if r == 0:
                    pixels[m].append(px)
                    sizes[m].append(read_image_file(path, target).image.size)
                else:
                    wall[m].append((t1 - t0) * 1000)
                    cpu[m].append((c1 - c0) * 1000)

    cosine = {}
    if args.vectors:
        from vsearch.models import load_model

        model = load_model("align-lite")
        vecs = {m: model.encode_images(np.stack(pixels[m])) for m in methods}
        cosine = {m: float(np.min(np.sum(vecs[m] * vecs[base], axis=1))) for m, (_, _, base) in methods.items()}

    jpeg_draft = statistics.median(wall["JPEG draft"])
    print(f"{'method':<22}{'MB/file':>8}{'decoded':>11}{'ms/file':>9}{'CPU ms':>8}{'vs full':>9}{'vs JPEG draft':>15}"
          f"{'input diff':>12}" + (f"{'min cos':>9}" if cosine else ""))
    for m, (kind, _, base) in methods.items():
        ms, base_ms = statistics.median(wall[m]), statistics.median(wall[base])
        mb = statistics.mean(p.stat().st_size for p in files[kind]) / 1e6
        diff = statistics.mean(float(np.abs(a.astype(np.int16) - b).mean()) for a, b in zip(pixels[m], pixels[base]))
        w, h = sizes[m][0]
        print(f"{m:<22}{mb:>8.2f}{f'{w}x{h}':>11}{ms:>9.1f}{statistics.median(cpu[m]):>8.1f}{base_ms / ms:>8.1f}x"
              f"{ms / jpeg_draft:>14.2f}x{diff:>12.2f}" + (f"{cosine[m]:>9.4f}" if cosine else ""))
    print(f"\nmedians of {args.photos} photos x {args.repeats} repeats; 'vs full': full-decode time / this time; "
          f"'vs JPEG draft': this time / JPEG draft's; 'input diff': mean |model input - full decode's| (0-255)"
          + ("; 'min cos': lowest cosine of a photo's vector to its full decode's" if cosine else ""))


if __name__ == "__main__":
    main()
