"""Video files through FFmpeg (PyAV, the `video` extra): a bounded set of frames, each a picture.

A video is read as the moments worth a vector (Sampling):
- by scene change (the default): only keyframes are decoded, at most one per `min_step_s` (and
  at most 4 x `max_frames` over the whole video); each is compared with the last frame kept (mean
  absolute difference of 16x16 RGB thumbnails, 0-1). A frame is kept at the first keyframe, where
  the picture changed by more than `scene_threshold`, and at least every `max_gap_s` where it
  does not. Beyond `max_frames`, the frames that changed least are dropped (never the first).
  Encoders put keyframes at cuts and every few seconds (phones: ~1 s), so cuts are found without
  decoding every frame;
- every N seconds (`every_s`): the frame at 0, N, 2N… (a seek to the keyframe before each, then
  decoding forward to it); over `max_frames`, N grows to spread them over the whole video.

A frame's time is milliseconds from the start of the video stream. Frames come upright (the
stream's display rotation applied), in the display aspect ratio, scaled down to a short side of
`target` when larger.

Bounds: only regular files are opened (the reader's checks, by descriptor); only the demuxers of
video files (a playlist named .mp4 would make FFmpeg open the files and URLs it lists); frames of
at most MAX_PIXELS; at most MAX_PACKETS packets demuxed and MAX_DECODE_PER_SEEK frames decoded
to reach one moment; at most `max_frames` pictures (target-sized) held. The file is never read
into memory. FFmpeg's errors become the reader's reasons: "truncated or corrupt: …",
"unsupported video codec (…)", "no video stream (audio only)".
"""
from __future__ import annotations

import errno
import math
import os
from dataclasses import dataclass
from datetime import datetime
from numbers import Real
from typing import NamedTuple

import numpy as np
from PIL import Image

from ..errors import InvalidOptionError
from ..limits import MAX_VIDEO_FRAMES, whole_number
from .errors import (CorruptImageError, ImageBombError, ImageError, ImageMemoryError, NoVideoStreamError,
                     UnsupportedImageError, clean_text)
from .exif import apply_orientation, camera_name
from .files import open_regular
from .picture import MAX_PIXELS

try:  # the `video` extra
    import av
except ImportError:  # pragma: no cover - exercised by the scan's counting, with av hidden
    av = None

VIDEO_EXTENSIONS = frozenset({".mp4", ".m4v", ".mov", ".3gp", ".3g2", ".mkv", ".webm", ".avi", ".mts", ".m2ts",
                              ".mpg", ".mpeg", ".wmv", ".asf", ".flv", ".ogv", ".insv", ".lrv"})
MISSING = "video: PyAV not installed"
# The demuxers of the extensions above; any other (hls, concat, image sequences…) is never probed.
DEMUXERS = "mov,mp4,matroska,webm,avi,mpegts,mpeg,asf,flv,ogg"
MAX_VIDEO_BYTES = 1 << 40  # the reader's size check for videos: they are streamed, never held in memory
MAX_PACKETS = 5_000_000    # ~46 hours at 30 frames/s
MAX_DECODE_PER_SEEK = 900  # frames decoded from a keyframe to reach one moment (30 s at 30 frames/s)
_SIGNATURE = (16, 16)
_ROTATION_TO_ORIENTATION = {0: 1, 90: 8, 180: 3, -180: 3, -90: 6, 270: 6}  # counter-clockwise degrees -> EXIF
_MAX_MESSAGE = 100


@dataclass(frozen=True)
class Sampling:
    every_s: float | None = None   # None: by scene change; else one frame every `every_s` seconds
    max_frames: int = 48           # per video
    max_gap_s: float = 10.0        # scene changes: a frame at least this often, changed or not
    min_step_s: float = 1.0        # scene changes: keyframes closer than this to the last one looked at are skipped
    scene_threshold: float = 0.12  # mean absolute difference (0-1) of 16x16 thumbnails that is a new scene

    def __post_init__(self) -> None:
        every = self.every_s
        if every is not None and (isinstance(every, bool) or not isinstance(every, Real)
                                  or not (every > 0 and math.isfinite(every))):
            raise InvalidOptionError(f"a video frame every {str(every)[:40]} seconds cannot work: give a positive number")
        whole_number(self.max_frames, "frames per video", 1, MAX_VIDEO_FRAMES)


@dataclass(frozen=True)
class VideoMeta:
    width: int                     # of the frames as stored (before rotation)
    height: int
    duration_ms: int | None
    codec: str
    taken_at: datetime | None = None   # the container's creation date (QuickTime's local one, else creation_time, UTC)
    camera: str | None = None
    orientation: int | None = None     # the display rotation, as the EXIF orientation that turns the frames upright


class Frame(NamedTuple):
    ms: int              # from the start of the video stream
    image: Image.Image   # RGB, upright, short side <= target (when one was given)


class DecodedVideo(NamedTuple):
    meta: VideoMeta
    frames: list[Frame]


def video_available() -> bool:
    return av is not None


def is_video_name(name: str | os.PathLike) -> bool:
    return os.path.splitext(os.fsdecode(name))[1].lower() in VIDEO_EXTENSIONS


def read_video(path: str | os.PathLike, target: int | None = None, sampling: Sampling = Sampling()) -> DecodedVideo:
    """The sampled frames of a video file and its metadata; an ImageError (with the path) when it
    cannot be read."""
    with _Opened(path) as v:
        try:
            frames = v.scene_frames(target, sampling) if sampling.every_s is None else []
            if not frames:  # interval sampling, or a stream whose packets carry no keyframe flags
                every = sampling.every_s or max(sampling.min_step_s, (v.duration_s or 0) / sampling.max_frames)
                frames = v.interval_frames(target, every, sampling.max_frames)
        except Exception as e:  # noqa: BLE001 - FFmpeg and PyAV raise anything on hostile data
            raise _reason(e, v.path) from None
        if not frames:
            raise CorruptImageError("truncated or corrupt: no frame could be decoded", v.path)
        return DecodedVideo(v.meta(), frames)


def video_frame(path: str | os.PathLike, ms: int, target: int | None = None) -> Image.Image:
    """The picture of a video at `ms` (a thumbnail of a moment)."""
    with _Opened(path) as v:
        try:
            frames = v.frames_at([ms / 1000], target)
        except Exception as e:  # noqa: BLE001
            raise _reason(e, v.path) from None
        if not frames:
            raise CorruptImageError(f"truncated or corrupt: no frame at {ms / 1000:.1f} s", v.path)
        return frames[0].image


class _Opened:
    """An open video: its container, its video stream, and the ways to take frames from it."""

    def __init__(self, path: str | os.PathLike):
        self.path = os.fsdecode(path)
        self.file = self.container = None
        self.orientation: int | None = None

    def __enter__(self) -> "_Opened":
        if av is None:
            raise UnsupportedImageError(f"unsupported format ({MISSING}: pip install 'vsearch[video]')", self.path)
        try:
            self.file = open_regular(self.path, MAX_VIDEO_BYTES)
            try:
                self.container = av.open(self.file, "r", container_options={"format_whitelist": DEMUXERS},
                                         buffer_size=1 << 20)
            except av.error.FFmpegError as e:
                if e.errno == errno.EINVAL:  # FFmpeg recognised a format outside DEMUXERS
                    raise UnsupportedImageError("unsupported video format (a playlist, or a container vsearch does "
                                                "not open)") from None
                raise
            self._pick_stream()
        except ImageError as e:
            self.__exit__()
            e.path = self.path
            raise
        except BaseException as e:
            self.__exit__()
            raise _reason(e, self.path) from None
        return self

    def __exit__(self, *exc) -> None:
        for thing in (self.container, self.file):
            if thing is not None:
                try:
                    thing.close()
                except Exception:  # noqa: BLE001 - closing a damaged container must not hide the first error
                    pass
        self.container = self.file = None

    def _pick_stream(self) -> None:
        videos = [s for s in self.container.streams.video if not s.disposition & av.stream.Disposition.attached_pic]
        if not videos:
            audio = " (audio only)" if self.container.streams.audio else ""
            raise NoVideoStreamError(f"no video stream{audio}")
        self.stream = s = videos[0]
        if s.codec_context is None:
            raise UnsupportedImageError(f"unsupported video codec ({clean_text(_codec_name(s), 40)})")
        w, h = s.codec_context.width, s.codec_context.height
        if w * h > MAX_PIXELS:
            raise ImageBombError(f"decompression bomb: {w}x{h} video frames exceed the {MAX_PIXELS:,}-pixel limit")
        self.start = float(s.start_time * s.time_base) if s.start_time is not None and s.time_base else 0.0
        if s.duration is not None and s.time_base:
            self.duration_s: float | None = float(s.duration * s.time_base)
        elif self.container.duration is not None:
            self.duration_s = self.container.duration / av.time_base
        else:
            self.duration_s = None
        sar = s.sample_aspect_ratio
        self.display_scale = float(sar) if sar and float(sar) > 0 and 0.1 < float(sar) < 10 else 1.0

    def meta(self) -> VideoMeta:
        tags = {k.lower(): v for k, v in (self.container.metadata or {}).items()}
        make = tags.get("com.apple.quicktime.make") or tags.get("com.android.manufacturer") or tags.get("make")
        model = tags.get("com.apple.quicktime.model") or tags.get("com.android.model") or tags.get("model")
        cc = self.stream.codec_context
        return VideoMeta(cc.width, cc.height, round(self.duration_s * 1000) if self.duration_s else None,
                         clean_text(_codec_name(self.stream), 40), _created(tags), camera_name(make, model),
                         self.orientation)

    # --- frames --------------------------------------------------------------------------------
    def _time(self, frame) -> float:
        """Seconds from the start (by the stream's time base: a frame flushed out of the decoder has none)."""
        if frame.pts is None or not self.stream.time_base:
            return 0.0
        return max(0.0, float(frame.pts * self.stream.time_base) - self.start)

    def _picture(self, frame, target: int | None) -> Image.Image:
        if self.orientation is None:
            self.orientation = _ROTATION_TO_ORIENTATION.get(round(getattr(frame, "rotation", 0) or 0), 1)
        w, h = frame.width * self.display_scale, frame.height
        scale = min(1.0, target / min(w, h)) if target else 1.0
        out = frame.reformat(width=max(2, round(w * scale)), height=max(2, round(h * scale)), format="rgb24",
                             interpolation="AREA")
        return apply_orientation(out.to_image(), self.orientation)

    def scene_frames(self, target: int | None, sampling: Sampling) -> list[Frame]:
        step = max(sampling.min_step_s, (self.duration_s or 0.0) / (4 * sampling.max_frames))
        kept: list[tuple[float, Frame]] = []  # (how much the picture changed, the frame)
        last: dict = {}

        def consider(frame) -> None:
            t = self._time(frame)
            sig = frame.reformat(width=_SIGNATURE[0], height=_SIGNATURE[1], format="rgb24").to_ndarray().astype(np.float32)
            change = math.inf if not last else float(np.abs(sig - last["sig"]).mean()) / 255.0
            if last and change < sampling.scene_threshold and t - last["t"] < sampling.max_gap_s:
                return
            kept.append((change, Frame(round(t * 1000), self._picture(frame, target))))
            last.update(sig=sig, t=t)
            if len(kept) > sampling.max_frames:
                del kept[min(range(1, len(kept)), key=lambda i: kept[i][0])]

        self.stream.codec_context.skip_frame = "NONKEY"
        next_t = -math.inf
        try:
            for n, packet in enumerate(self.container.demux(self.stream)):
                if n >= MAX_PACKETS:
                    break
                if packet.pts is None or not packet.is_keyframe:
                    continue
                t = float(packet.pts * packet.time_base) - self.start
                if t < next_t:
                    continue
                next_t = t + step
                for frame in self._decode(packet):
                    consider(frame)
            for frame in self._decode(None):
                consider(frame)
        except (av.error.EOFError, av.error.InvalidDataError):
            pass  # a file cut short: the frames before the damage are kept
        finally:
            self.stream.codec_context.skip_frame = "DEFAULT"
        return [f for _, f in kept]

    def _decode(self, packet):
        try:
            return self.stream.codec_context.decode(packet)
        except av.error.InvalidDataError:  # one damaged packet: the next keyframe may decode
            return []

    def interval_frames(self, target: int | None, every: float, max_frames: int) -> list[Frame]:
        if self.duration_s:
            every = max(every, self.duration_s / max_frames)
            times = [i * every for i in range(max_frames) if i * every < self.duration_s] or [0.0]
        else:
            times = [i * every for i in range(max_frames)]
        return self.frames_at(times, target)

    def frames_at(self, times: list[float], target: int | None) -> list[Frame]:
        """The frame shown at each time (seconds from the start), in order; stops at the end of the video."""
        frames: list[Frame] = []
        for t in times:
            frame = self._frame_at(t)
            if frame is None:
                break
            ms = round(self._time(frame) * 1000)
            if frames and ms <= frames[-1].ms:  # past the last frame: the seek found it again
                break
            frames.append(Frame(ms, self._picture(frame, target)))
        return frames

    def _frame_at(self, t: float):
        s = self.stream
        tb = float(s.time_base) if s.time_base else 1 / av.time_base
        try:
            self.container.seek(int((self.start + t) / tb), stream=s, backward=True)
            best = None
            for n, frame in enumerate(self.container.decode(s)):
                if best is not None and self._time(frame) > t + 1e-3:
                    break
                best = frame
                if self._time(frame) >= t - 1e-3 or n >= MAX_DECODE_PER_SEEK:
                    break
            return best
        except (av.error.EOFError, av.error.InvalidDataError):
            return None


def _created(tags: dict[str, str]) -> datetime | None:
    for key in ("com.apple.quicktime.creationdate", "creation_time", "date"):
        text = tags.get(key)
        if not text:
            continue
        try:
            when = datetime.fromisoformat(clean_text(text, 40).replace("Z", "+00:00"))
        except ValueError:
            continue
        if when.year > 1970:  # unset QuickTime dates read as 1904 or 1970
            return when.replace(tzinfo=None, microsecond=0)
    return None


def _reason(e: BaseException, path: str) -> ImageError:
    if isinstance(e, ImageError):
        err = e
    elif isinstance(e, MemoryError):
        err: ImageError = ImageMemoryError("out of memory while decoding (the video is too large for the memory available)")
    elif av is not None and isinstance(e, av.error.FFmpegError):
        err = CorruptImageError(f"truncated or corrupt: {clean_text(e.strerror or type(e).__name__, _MAX_MESSAGE)}")
    elif isinstance(e, Exception):
        err = CorruptImageError(f"truncated or corrupt: {clean_text(e, _MAX_MESSAGE) or type(e).__name__}")
    else:
        raise e
    err.path = path
    return err


def _codec_name(stream) -> str:
    try:
        return stream.codec_context.name or "?"
    except Exception:  # noqa: BLE001 - a stream FFmpeg has no decoder for
        return "?"
