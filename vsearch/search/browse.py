"""Browsing a collection: an image's file (checked to lie inside the ingested roots), its
thumbnail, its metadata rows, and the facets the UI's filters choose from."""
from __future__ import annotations

from pathlib import Path
from typing import Any, Callable

import pyarrow as pa

from ..errors import QueryError
from .query_image import read_image
from .thumbnails import save_thumbnail, thumbnail_path


class Browser:
    def __init__(self, folder: Path, name: str, roots: list[str], images: pa.Table,
                 rows_of: Callable[[int], list[dict]]):
        self._folder, self._name, self._images, self._rows_of = folder, name, images, rows_of
        self._roots = {r: Path(r).resolve() for r in roots}  # rows store each root exactly as the manifest lists it
        self._facets: dict[str, Any] | None = None

    def file_path(self, id_: int) -> Path:
        """The file of an ingested image, checked to lie inside one of the collection's roots
        (a link or a stale row pointing elsewhere is refused)."""
        rows = self._rows_of(int(id_))
        if not rows:
            raise QueryError(f"no image with id {id_} in collection {self._name!r}")
        for r in rows:
            root = self._roots.get(r["root"])
            if root is None:
                continue
            p = (root / r["path"]).resolve()
            if p.is_relative_to(root) and p.is_file():
                return p
        raise QueryError(f"image {id_} is no longer inside the collection's roots; re-run `vsearch ingest`")

    def thumbnail(self, id_: int, size: int = 320) -> Path:
        """A JPEG of the image with its longer side <= size; made on first use, then reused."""
        src = self.file_path(id_)  # checked every time: a cached thumbnail is still a view of the file
        dst = thumbnail_path(self._folder, int(id_), size)
        if dst.is_file():
            return dst
        img = read_image(src, size)
        try:
            return save_thumbnail(img, dst, size)
        except OSError as e:
            raise QueryError(f"cannot write a thumbnail of {src}: {e}") from e

    def metadata(self, id_: int) -> list[dict[str, Any]]:
        """The metadata rows of an image (several when the same content is stored twice)."""
        return [{k: (v.isoformat() if hasattr(v, "isoformat") else v) for k, v in r.items()}
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
