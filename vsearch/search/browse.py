"""Browsing a collection: an image's file (checked to lie inside the ingested roots), its
thumbnail (checked to show the content it is keyed by), its metadata rows, and the facets the
UI's filters choose from. A video frame's picture is the video's at the frame's time; the video
must still have the size and time it had at ingest (hashing a video to check it would cost as much
as reading it). A companion (a RAW beside its JPEG) is listed after the file shown."""
from __future__ import annotations

from pathlib import Path
from typing import Any, Callable

import pyarrow as pa
from PIL import Image

from ..errors import ImageError, QueryError
from ..escape import valid_utf8
from ..limits import MAX_THUMBNAIL, whole_number
from ..store.names import on_disk, path_problem, shown
from ..times import clamp_ns
from .thumbnails import save_thumbnail, thumbnail_path


class Browser:
    def __init__(self, folder: Path, name: str, roots: list[str], images: pa.Table,
                 rows_of: Callable[[int], list[dict]]):
        self._folder, self._name, self._images, self._rows_of = folder, name, images, rows_of
        # rows store each root in its shown form; the manifest lists it as the OS names it
        self._roots = {shown(r): real for r in roots if (real := _real(r)) is not None}
        self._facets: dict[str, Any] | None = None

    def _files(self, id_: int, with_rows: bool = False) -> list:
        """The files of an ingested image that lie inside the collection's roots (a link or a stale
        row pointing elsewhere is left out), in row order, companions last; `with_rows`: (file, row)."""
        rows = self._rows_of(int(id_))
        if not rows:
            raise QueryError(f"no image with id {id_} in collection {self._name!r}")
        found, unusable = [], None
        for r in sorted(rows, key=lambda r: bool(r.get("companion"))):
            root = self._roots.get(r["root"])
            if root is None:
                continue
            name = on_disk(r)
            unusable = unusable or path_problem(str(root / name))
            p = _real(root / name)
            if p is not None and p.is_relative_to(root) and _is_file(p):
                found.append((p, r) if with_rows else p)
        if not found:
            if unusable:
                raise QueryError(f"image {id_} cannot be shown: its file has {unusable}")
            raise QueryError(f"image {id_} is no longer inside the collection's roots; re-run `vsearch ingest`")
        return found

    def file_path(self, id_: int) -> Path:
        """The file of an ingested image, checked to lie inside one of the collection's roots."""
        return self._files(id_)[0]

    def thumbnail(self, id_: int, size: int = 320) -> Path:
        """A JPEG of the image with its longer side <= size; made on first use, then reused.

        A thumbnail is keyed by content id, so it is made only from a file whose bytes still have
        that id: a file changed since the ingest is not shown in its place (the message says so)."""
        size = whole_number(size, "thumbnail size", 16, MAX_THUMBNAIL, QueryError)
        dst = thumbnail_path(self._folder, int(id_), size)
        if dst.is_file():
            self._files(id_)  # checked every time: a cached thumbnail is still a view of a file
            return dst
        src, img = self._picture(id_, size)
        try:
            return save_thumbnail(img, dst, size)
        except OSError as e:
            raise QueryError(f"cannot write a thumbnail of {valid_utf8(str(src))}: {e.strerror or e}") from e

    def image(self, id_: int, size: int) -> Image.Image:
        """The picture of an ingested image decoded (bounded, at least `size` where the format can
        shrink on load) from a file that still holds that content; a QueryError otherwise."""
        return self._picture(id_, size)[1]

    def _picture(self, id_: int, size: int) -> tuple[Path, Image.Image]:
        from ..imaging import decode_image_bytes

        video = self._video(id_)
        if video is not None:
            from ..imaging.video import video_frame

            src, ms = video
            try:
                return src, video_frame(src, ms, size)
            except ImageError as e:
                raise QueryError(f"{valid_utf8(str(src))}: {e.reason}") from None
        src, data = self._content(id_)
        return src, decode_image_bytes(data, size, name=src).image

    def _video(self, id_: int) -> tuple[Path, int] | None:
        """(video file, frame time in ms) of a frame's id; None for a photo. The file must still
        have the size and time it had at ingest."""
        src, r = self._files(id_, with_rows=True)[0]
        if r.get("media") != "video" or r.get("companion") or r.get("frame_ms") is None:
            return None
        st = src.stat()
        if st.st_size != r["bytes"] or clamp_ns(st.st_mtime_ns)[0] != r["mtime_ns"]:  # stored as the scan clamped it
            raise QueryError(f"{valid_utf8(str(src))} has changed since it was ingested, so it no longer shows this "
                             f"result; re-run `vsearch ingest` on its folder")
        return src, int(r["frame_ms"])

    def _content(self, id_: int) -> tuple[Path, bytes]:
        """(file, bytes) of the first file of the image whose bytes still have its content id."""
        from ..imaging import read_file_bytes
        from ..pipeline.decode import content_id

        files = self._files(id_)
        for src in files:
            try:
                data = read_file_bytes(src)
            except ImageError:
                continue
            if content_id(data)[1] == int(id_):
                return src, data
        raise QueryError(f"{valid_utf8(str(files[0]))} has changed since it was ingested, so it no longer shows this "
                         f"result; re-run `vsearch ingest` on its folder")

    def metadata(self, id_: int) -> list[dict[str, Any]]:
        """The metadata rows of an image (several when the same content is stored twice)."""
        return [{k: (v.isoformat() if hasattr(v, "isoformat") else v) for k, v in r.items() if k != "raw_path"}
                for r in self._rows_of(int(id_))]

    def facets(self) -> dict[str, Any]:
        """What the metadata filters can choose from: folders (with counts), cameras, and the
        capture-date and file-size ranges."""
        if self._facets is not None:
            return self._facets
        import pyarrow.compute as pc

        t = self._images
        folders = pc.value_counts(t["folder"]).to_pylist()
        cameras = sorted(c for c in pc.unique(t["camera"]).to_pylist() if c)
        taken = pc.min_max(t["taken_at"]).as_py() if len(t) else {"min": None, "max": None}
        size = pc.min_max(t["bytes"]).as_py() if len(t) else {"min": None, "max": None}
        self._facets = {"folders": sorted(((d["values"], d["counts"]) for d in folders), key=lambda x: x[0]),
                        "cameras": cameras, "taken_min": taken["min"], "taken_max": taken["max"],
                        "bytes_min": size["min"], "bytes_max": size["max"]}
        return self._facets


def _real(path: str | Path) -> Path | None:
    """The path with every link resolved; None when it cannot name a file here (too long, a NUL)."""
    try:
        return Path(path).resolve()
    except (OSError, ValueError):
        return None


def _is_file(path: Path) -> bool:
    try:
        return path.is_file()
    except (OSError, ValueError):
        return False
