"""RAW files and videos against 240-px JPEGs, in the same run: files made from Flickr8k photos.

    python benchmarks/ingest.py --media [--n 24] [--videos 4] [--video-seconds 30] [--repeats 3] [--workdir DIR]

Makes, from the first N Flickr8k photos upscaled to 4032x3024 (a 12 MP camera):
  240 px JPEG      the first 8 x N photos at 320x240, JPEG q92: the baseline (more files, so that
                   each row runs for seconds and a pool's start weighs alike)
  RAW with preview DNGs (tests/media_inputs.py: 12-bit Bayer samples of the photo, uncompressed,
                   24 MB) embedding a 1620x1215 JPEG preview, as cameras embed one
  RAW demosaic     the same DNGs without a preview: LibRaw develops them at half size
  video            --videos H.264 1080p videos at 30 frames/s, a keyframe a second (as phones write
                   them), --video-seconds each: Flickr8k photos shown 3 s each, slowly zooming (so
                   every frame is coded as motion, as in a real video)
and ingests each folder into a fresh collection as `vsearch ingest` does (local engine, default
options; the video folder with --videos: frames at scene changes), folders in turn, --repeats rounds
(medians; the model's ONNX exports made by an untimed warm-up ingest first). Prints vectors per
second and the ratio to the 240-px JPEG rate of the same round; for video also seconds of video per
second, frames of video per second (the video's own frames, decoded or skipped) and vectors per
minute of video.
"""
from __future__ import annotations

import sys
import time
from fractions import Fraction
from pathlib import Path

import numpy as np
from PIL import Image

CAMERA = (4032, 3024)
PREVIEW = (1620, 1215)
VIDEO_SIZE, VIDEO_FPS, SECONDS_PER_PHOTO = (1920, 1080), 30, 3.0
ROWS = ("240 px JPEG", "RAW with preview", "RAW demosaic", "video")


def make_media(flickr: Path, n: int, videos: int, video_seconds: float, workdir: Path) -> dict[str, list[Path]]:
    sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))
    from media_inputs import make_dng

    names = sorted(p.name for p in (flickr / "images").iterdir())
    folders = {row: workdir / row.replace(" ", "_") for row in ROWS}
    for folder in folders.values():
        folder.mkdir(parents=True, exist_ok=True)
    for i, name in enumerate(names[:8 * n]):
        stem = Path(name).stem
        jpeg, with_preview, plain = (folders[ROWS[0]] / f"{stem}.jpg", folders[ROWS[1]] / f"{stem}.dng",
                                     folders[ROWS[2]] / f"{stem}.dng")
        photo = Image.open(flickr / "images" / name).convert("RGB")
        if not jpeg.exists():
            photo.resize((320, 240), Image.Resampling.LANCZOS).save(jpeg, "JPEG", quality=92)
        if i >= n or (with_preview.exists() and plain.exists()):
            continue
        big = photo.resize(CAMERA, Image.Resampling.BICUBIC)
        with_preview.write_bytes(make_dng(big, preview=big.resize(PREVIEW, Image.Resampling.LANCZOS)))
        plain.write_bytes(make_dng(big))
    per_video = max(1, round(video_seconds / SECONDS_PER_PHOTO))
    for i in range(videos):
        path = folders["video"] / f"clip{i}.mp4"
        if not path.exists():
            photos = names[8 * n + i * per_video: 8 * n + (i + 1) * per_video]
            _zooming_video(path, [Image.open(flickr / "images" / p).convert("RGB") for p in photos])
    return {row: sorted(f for f in folder.iterdir() if f.is_file()) for row, folder in folders.items()}


def _zooming_video(path: Path, photos: list[Image.Image]) -> None:
    import av

    tmp = path.with_suffix(".part.mp4")
    with av.open(str(tmp), "w") as out:
        s = out.add_stream("libx264", rate=VIDEO_FPS, options={"preset": "veryfast", "g": str(VIDEO_FPS)})
        s.width, s.height = VIDEO_SIZE
        s.pix_fmt = "yuv420p"
        frames = round(SECONDS_PER_PHOTO * VIDEO_FPS)
        n = 0
        for photo in photos:
            big = photo.resize((VIDEO_SIZE[0] * 5 // 4, VIDEO_SIZE[1] * 5 // 4), Image.Resampling.BICUBIC)
            for k in range(frames):  # a slow zoom: 20 % over the photo's 3 s
                z = k / frames * 0.2
                w, h = big.width * (1 - z), big.height * (1 - z)
                box = ((big.width - w) / 2, (big.height - h) / 2, (big.width + w) / 2, (big.height + h) / 2)
                frame = av.VideoFrame.from_image(big.resize(VIDEO_SIZE, Image.Resampling.BILINEAR, box=box))
                frame.pts, frame.time_base = n, Fraction(1, VIDEO_FPS)
                n += 1
                for packet in s.encode(frame):
                    out.mux(packet)
        for packet in s.encode():
            out.mux(packet)
    tmp.rename(path)


# --- ingest, as the CLI runs it --------------------------------------------------------------------
def _ingest(folder: Path, home: Path, videos: bool) -> tuple[float, int, int]:
    """(wall seconds, vectors encoded, rows) of ingesting `folder` into a fresh collection."""
    from vsearch.pipeline.config import IngestConfig
    from vsearch.pipeline.local import ingest

    t = time.perf_counter()
    s = ingest(IngestConfig(root=folder, home=home, videos=videos))
    wall = time.perf_counter() - t
    assert s.errors == 0 and s.encoded > 0, (folder, s.errors, s.error_samples[:3])
    return wall, s.encoded, s.images


def _video_seconds(paths: list[Path]) -> tuple[float, int]:
    import av

    seconds, frames = 0.0, 0
    for p in paths:
        with av.open(str(p)) as c:
            s = c.streams.video[0]
            seconds += float(s.duration * s.time_base)
            frames += s.frames
    return seconds, frames


def media(flickr: Path, n: int, videos: int, video_seconds: float, repeats: int, workdir: Path | None) -> None:
    import shutil
    import tempfile

    workdir = workdir or Path(tempfile.mkdtemp(prefix="vsearch-media-"))
    t = time.perf_counter()
    files = make_media(flickr, n, videos, video_seconds, workdir)
    print(f"{n} RAW photos, {8 * n} 240-px JPEGs, {videos} videos of {video_seconds:.0f} s in {workdir} "
          f"({time.perf_counter() - t:.0f} s to make)")
    for paths in files.values():  # into the page cache: every row is timed from memory alike
        for p in paths:
            p.read_bytes()
    homes = workdir / "homes"
    shutil.rmtree(homes, ignore_errors=True)
    _ingest(files[ROWS[0]][0].parent, homes / "warm-up", False)  # ONNX exports, if missing
    runs: dict[str, list[tuple[float, int, int]]] = {row: [] for row in ROWS}
    for r in range(repeats):
        for row in ROWS:  # in turn: load on the shared machine falls on every row alike
            runs[row].append(_ingest(files[row][0].parent, homes / f"{r}-{row.replace(' ', '_')}", row == "video"))
    shutil.rmtree(homes)
    seconds, frames = _video_seconds(files["video"])
    base = [v / w for w, v, _ in runs[ROWS[0]]]
    mb = {row: np.mean([p.stat().st_size for p in paths]) / 1e6 for row, paths in files.items()}
    print(f"\n{repeats} rounds (medians; `vsearch ingest` into a fresh collection, local engine, default options; "
          f"video with --videos)")
    print(f"{'row':<18}{'files':>6}{'MB/file':>9}{'vectors':>9}{'vectors/s':>11}{'vs 240 px':>11}")
    for row in ROWS:
        rate = float(np.median([v / w for w, v, _ in runs[row]]))
        ratio = float(np.median([(v / w) / b for (w, v, _), b in zip(runs[row], base)]))
        print(f"{row:<18}{len(files[row]):>6}{mb[row]:>9.2f}{runs[row][0][1]:>9}{rate:>11.1f}{ratio:>10.2f}x")
    wall = float(np.median([w for w, _, _ in runs["video"]]))
    vectors = runs["video"][0][1]
    jpeg_rate = float(np.median(base))
    print(f"\nvideo: {seconds:.0f} s ({frames} frames at {VIDEO_SIZE[0]}x{VIDEO_SIZE[1]}, {VIDEO_FPS} frames/s) ingested "
          f"in {wall:.1f} s: {seconds / wall:.1f} s of video per second, {frames / wall:.0f} frames of video per second "
          f"({frames / wall / jpeg_rate:.1f}x the 240-px JPEG images/s), {vectors / (seconds / 60):.1f} vectors per "
          f"minute of video")
