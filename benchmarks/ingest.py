"""End-to-end ingest rate against the encoder's own forward rate, on the same real photos.

    python benchmarks/ingest.py [--n 1024] [--upscale 0] [--batch 32] [--engines local,ray --repeats 3]

1. decodes N Flickr8k photos once and times the encoder alone on them (batches of --batch,
   already preprocessed): the ceiling;
2. times `vsearch.ingest` of the same files into a fresh collection (scan, hash, decode in
   worker processes, encode, write shards, build the index, commit);
and prints both rates and their ratio. --upscale S first re-saves each photo as an S-pixel-wide
JPEG, to look like camera files (decode cost then matters).

--engines local,ray then ingests the same photos with each engine as `vsearch ingest [--engine
ray]` runs it (model loaded by name; Ray: a local instance started and stopped, an encoder
actor loading its own model), --repeats times in turn, and prints each engine's median rate,
its fixed startup, the rate after startup, and its ratio to the local runner.

--camera [--n 200 --repeats 5 --workdir DIR] instead measures camera-size photos: the first N
Flickr8k photos re-saved at 4032x3024 (upscaled; benchmarks/decode.py makes them) as JPEG q92,
HEIC with a 320x240 embedded preview (what phones embed) and HEIC without one, and the same
photos at 320x240 (240 px, the model's input size) as JPEG q92: the baseline. Each folder is
ingested into a fresh collection as `vsearch ingest` does it (model by name, default options; the
model's ONNX exports are made by an untimed warm-up ingest first), formats in turn, --repeats
times; it prints each format's median images/s, its ratio to the 240-px rate and to camera
JPEG's (paired by round, then the median), and where the wall time went (median seconds spent
waiting for decoded files, encoding, and the rest); then a CPU profile: each format's read, hash,
decode and resize cost per file, the encoder's CPU per image, and the ratio to the 240-px rate
that a machine whose cores are all busy cannot beat. --workdir keeps the generated files: making
the HEICs takes ~5 s a photo.

--media [--n 24 --videos 4 --video-seconds 30 --repeats 3 --workdir DIR] measures RAW files (with
and without an embedded preview) and videos against 240-px JPEGs in the same run: benchmarks/media.py.
"""
from __future__ import annotations

import argparse
import os
import shutil
import tempfile
import time
from pathlib import Path

import numpy as np
from PIL import Image

from flickr import add_flickr_option


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--n", type=int, default=1024)
    ap.add_argument("--batch", type=int, default=32)
    ap.add_argument("--upscale", type=int, default=0)
    ap.add_argument("--engines", default="local", help="comma-separated: local, ray (needs the ray extra)")
    ap.add_argument("--repeats", type=int, default=3, help="runs of each engine, in turn (the engine table)")
    add_flickr_option(ap)
    ap.add_argument("--camera", action="store_true", help="camera-size JPEG/HEIC against 240-px photos (see above)")
    ap.add_argument("--workdir", type=Path, default=None, help="--camera, --media: keep the generated files here")
    ap.add_argument("--media", action="store_true", help="RAW with/without preview and video against 240-px JPEG")
    ap.add_argument("--videos", type=int, default=4, help="--media: videos to make")
    ap.add_argument("--video-seconds", type=float, default=30.0, help="--media: length of each video")
    args = ap.parse_args()
    if args.media:
        from media import media

        media(args.flickr, args.n if args.n != ap.get_default("n") else 24, args.videos, args.video_seconds,
              args.repeats, args.workdir)
        return
    if args.camera:
        camera(args.flickr, args.n if args.n != ap.get_default("n") else 200, args.repeats, args.workdir)
        return

    from vsearch.models import load_model
    from vsearch.pipeline.decode import decode_files
    from vsearch.evaluation.encoding import batched
    from vsearch.models.image_encoder import ImageEncoder

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
    engines = [e.strip() for e in args.engines.split(",") if e.strip()]
    if engines != ["local"]:
        compare_engines(engines, photos, tmp, args.batch, args.repeats)
    shutil.rmtree(tmp)
    assert np.isfinite(rate)


def compare_engines(engines: list[str], photos: Path, tmp: Path, batch: int, repeats: int) -> None:
    from vsearch.pipeline.config import IngestConfig
    from vsearch.pipeline.local import ingest as local

    runs: dict[str, list[tuple[float, float, int]]] = {e: [] for e in engines}  # (wall, startup, images)
    for r in range(repeats):
        for engine in engines:  # in turn: the machine is shared, so drift hits both engines alike
            cfg = IngestConfig(root=photos, home=tmp / f"{engine}-{r}", batch_size=batch)
            t = time.perf_counter()
            if engine == "ray":
                from vsearch.pipeline.ray_runner import ingest as ray

                s = ray(cfg)
            else:
                s = local(cfg)
            wall = time.perf_counter() - t
            runs[engine].append((wall, s.timings.get("startup", 0.0), s.images))
            shutil.rmtree(cfg.home)
    print(f"\nengines, {repeats} runs each (medians; each run loads its model by name, Ray starts a local instance)")
    print(f"{'engine':<8}{'images/s':>10}{'wall s':>9}{'startup s':>11}{'images/s after startup':>24}{'vs local':>10}")
    for engine in engines:
        wall = float(np.median([w for w, _, _ in runs[engine]]))
        startup = float(np.median([st for _, st, _ in runs[engine]]))
        images = runs[engine][0][2]
        rate = images / wall
        after = float(np.median([n / (w - st) for w, st, n in runs[engine]]))
        # paired by round (runs in turn share the machine's state), then the median
        vs = (f"{np.median([lw / w for (lw, _, _), (w, _, _) in zip(runs['local'], runs[engine])]):>10.2f}"
              if "local" in runs else f"{'-':>10}")
        print(f"{engine:<8}{rate:>10.1f}{wall:>9.1f}{startup:>11.1f}{after:>24.1f}{vs}")


CAMERA_FORMATS = ("240 px JPEG", "camera JPEG", "camera HEIC+preview", "camera HEIC")


def camera(flickr: Path, n: int, repeats: int, workdir: Path | None) -> None:
    import importlib.util

    from vsearch.pipeline.config import IngestConfig
    from vsearch.pipeline.local import ingest

    spec = importlib.util.spec_from_file_location("decode_bench", Path(__file__).with_name("decode.py"))
    decode_bench = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(decode_bench)

    workdir = workdir or Path(tempfile.mkdtemp(prefix="vsearch-camera-"))
    made = workdir / "made"
    made.mkdir(parents=True, exist_ok=True)
    t = time.perf_counter()
    files = decode_bench.make_files(flickr, n, made, noise=0.0)
    small = []
    for src in files["small"]:
        dst = made / f"{src.stem}-240.jpg"
        if not dst.exists():
            Image.open(src).convert("RGB").resize((320, 240), Image.Resampling.LANCZOS).save(dst, "JPEG", quality=92)
        small.append(dst)
    kinds = dict(zip(CAMERA_FORMATS, (small, files["jpeg"], files["heic_preview"], files["heic"])))
    folders: dict[str, Path] = {}
    for i, (fmt, paths) in enumerate(kinds.items()):
        folders[fmt] = workdir / f"format{i}"
        folders[fmt].mkdir(exist_ok=True)
        for p in paths:
            link = folders[fmt] / p.name
            if not link.exists():
                os.link(p, link)  # a hard link: a plain file to the scan
    print(f"{n} photos: {', '.join(CAMERA_FORMATS)} in {workdir} ({time.perf_counter() - t:.0f} s to make)")
    for paths in kinds.values():  # into the page cache: every format is timed from memory alike
        for p in paths:
            p.read_bytes()

    homes = workdir / "homes"
    shutil.rmtree(homes, ignore_errors=True)
    ingest(IngestConfig(root=folders[CAMERA_FORMATS[0]], home=homes / "warm-up"))  # ONNX exports, if missing
    runs: dict[str, list[tuple[float, dict[str, float], int]]] = {f: [] for f in CAMERA_FORMATS}
    for r in range(repeats):
        for fmt in CAMERA_FORMATS:  # in turn: load on the shared machine falls on every format alike
            t = time.perf_counter()
            s = ingest(IngestConfig(root=folders[fmt], home=homes / f"{r}-{fmt}"))
            runs[fmt].append((time.perf_counter() - t, dict(s.timings), s.images))
            assert s.images == n and s.errors == 0, (fmt, s.images, s.errors, s.error_samples[:3])
    shutil.rmtree(homes)

    def paired(fmt: str, base: str) -> float:
        return float(np.median([bw / w for (w, _, _), (bw, _, _) in zip(runs[fmt], runs[base])]))

    mb = {f: np.mean([p.stat().st_size for p in paths]) / 1e6 for f, paths in kinds.items()}
    print(f"\n{n} photos per format, {repeats} runs each (medians; ingest as `vsearch ingest` runs it, local engine)")
    print(f"{'format':<22}{'MB/file':>8}{'images/s':>10}{'vs 240 px':>11}{'vs camera JPEG':>16}"
          f"{'decode wait s':>15}{'encode s':>10}{'other s':>9}")
    for fmt in CAMERA_FORMATS:
        wall = float(np.median([w for w, _, _ in runs[fmt]]))
        wait = float(np.median([tm.get("decode", 0.0) for _, tm, _ in runs[fmt]]))
        enc = float(np.median([tm.get("encode", 0.0) for _, tm, _ in runs[fmt]]))
        print(f"{fmt:<22}{mb[fmt]:>8.2f}{n / wall:>10.1f}{paired(fmt, CAMERA_FORMATS[0]):>10.2f}x"
              f"{paired(fmt, 'camera JPEG'):>15.2f}x{wait:>15.2f}{enc:>10.2f}{wall - wait - enc:>9.2f}")
    print("\n'vs': this format's rate / the other's, paired by round; 'decode wait': time the encoder waited for "
          "decoded files; 'other': startup, scan, shards, index, commit")
    cpu_profile(kinds)


def cpu_profile(kinds: dict[str, list[Path]], files: int = 40, batch: int = 32) -> None:
    """Where each format's CPU goes, one file at a time in this process (the steps decode_file
    runs), and the encoder's CPU per image: on a machine whose cores the encoder already fills,
    ingest is bound by their sum, whatever runs in parallel."""
    import os
    import statistics

    from vsearch.imaging import decode_image_bytes, read_file_bytes
    from vsearch.models.handle import ModelHandle
    from vsearch.models.token_reranker import token_reranker
    from vsearch.models.image_encoder import encoder_for
    from vsearch.pipeline.decode import content_id

    handle = ModelHandle.open()
    pp = handle.preprocess
    steps = ("read", "hash", "decode", "pixels")
    rows, pixels = {}, []
    for fmt, paths in kinds.items():
        wall: dict[str, list[float]] = {k: [] for k in steps}
        cpu = []
        for p in paths[: files if "HEIC" not in fmt or "preview" in fmt else max(4, files // 8)]:
            c0, t = time.process_time(), [time.perf_counter()]
            data = read_file_bytes(p)
            t.append(time.perf_counter())
            content_id(data)
            t.append(time.perf_counter())
            image = decode_image_bytes(data, pp.size).image
            t.append(time.perf_counter())
            px = pp.to_pixels(image)
            t.append(time.perf_counter())
            cpu.append(time.process_time() - c0)
            for k, a, b in zip(steps, t, t[1:]):
                wall[k].append((b - a) * 1000)
            if fmt == CAMERA_FORMATS[0]:
                pixels.append(px)
        rows[fmt] = ([statistics.median(wall[k]) for k in steps], statistics.median(cpu) * 1000)
    encoder = encoder_for(handle, "auto", token_reranker(handle))  # ingest's: with the reranker's tokens
    batches = [pixels[i:i + batch] for i in range(0, len(pixels) - batch + 1, batch)] or [pixels]
    encoder.encode(batches[0])  # warm-up
    c0, t0 = time.process_time(), time.perf_counter()
    for _ in range(3):
        for b in batches:
            encoder.encode(b)
    images = 3 * sum(len(b) for b in batches)
    enc_cpu, enc_wall = (time.process_time() - c0) / images * 1000, (time.perf_counter() - t0) / images * 1000
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    print(f"\nper file, one at a time (medians of up to {files} files, ms); encoder: {enc_wall:.1f} ms wall, "
          f"{enc_cpu:.1f} ms CPU per image (batches of {len(batches[0])}, {cores} cores)")
    print(f"{'format':<22}" + "".join(f"{k + ' ms':>10}" for k in steps) + f"{'CPU ms':>9}{'CPU-bound ceiling vs 240 px':>30}")
    base = rows[CAMERA_FORMATS[0]][1]
    for fmt, (ms, cpu) in rows.items():
        print(f"{fmt:<22}" + "".join(f"{m:>10.2f}" for m in ms) + f"{cpu:>9.1f}{(enc_cpu + base) / (enc_cpu + cpu):>29.2f}x")
    print("'CPU-bound ceiling': (encoder + 240-px decode CPU) / (encoder + this format's decode CPU) per image: the best "
          "ratio when every core is busy, as on this machine")


if __name__ == "__main__":
    main()
