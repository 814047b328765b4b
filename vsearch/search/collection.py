"""The query path: encode the query -> ANN search (restricted by a metadata filter) -> hits.

`Collection` is the read-only object the CLI and the UI share: open it once, search many times;
the model and the FAISS index stay loaded, and a newer committed generation is picked up by
`reload()`. Until then it reads the generation it opened, however many commits follow: opening
pins that generation's files (store/collection.py) while the parts still load on first use.
Writing (ingest, texts, reindex) lives in vsearch.pipeline.
"""
from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
from PIL import Image

from ..errors import ModelMismatchError, QueryError, VsearchError
from ..index import default_memory_budget
from ..filters import Filter
from ..models.hubness import lookup
from ..models.identity import check_model
from ..models.registry import resolve
from ..store.collection import CollectionStore
from ..store.metadata_filter import MetadataFilter
from ..escape import valid_utf8
from ..store.home import index_home, pick_collection
from ..store.names import on_disk, shown
from ..store.tables import int64_column
from .browse import Browser
from .hits import Hit, TextHit, hit_from_rows
from .query_encoder import QueryEncoder
from .rerank import Reranking

# PyTorch is imported only when a model is really needed (image queries, reranking): a cold
# text query runs the text tower through ONNX Runtime (models/onnx_runtime.py).

HUBNESS_POOL = 200  # extra cosine candidates re-ranked by the hubness correction (|bias| < ~0.15)


class Collection:
    def __init__(self, name: str | None = None, home: str | Path | None = None, model=None,
                 device: str | None = None, reranker=None, prefetch: bool = True):
        self.home = index_home(home)
        self._prefetch_wanted, self._prefetch = prefetch, None
        self.name = pick_collection(name, self.home)
        self.store = CollectionStore(self.home / self.name)
        self.store.pin()
        self._device = device
        self._model = model if model is not None and not isinstance(model, str) else None
        self._model_name = None
        if isinstance(model, str):
            spec = resolve(model)
            wanted = self.store.manifest.model
            if spec.name != wanted["name"] and spec.kind != "checkpoint":
                raise ModelMismatchError(
                    f"collection {self.name!r} was built with model {wanted['name']!r}; it cannot be searched with "
                    f"{model!r}. Omit --model, or ingest into a new collection with --model {model}.")
            self._model_name = model
        if self._model is not None:
            check_model(self.store.manifest.model, self._model, self.name)
        self._encoder = QueryEncoder(self.store.manifest.model, lambda: self.model,
                                     torch_free=self._model is None and self._model_name is None, device=self._device)
        self.reranking = Reranking(self.store.folder, self.store.manifest.model["name"], reranker)
        self._load_tables()

    def _load_tables(self) -> None:
        self._images = self.store.images()
        self._index = None
        self._row_positions = None  # each images-table row's position in the index (filters select by rows)
        self._texts = None
        self._texts_index = None
        self._filter = None
        self._bias: dict[str, tuple[np.ndarray, np.ndarray] | None] = {}
        # Hits are built from this view: converting the tz-aware `mtime` would import pandas.
        self._rows_view = self._images.drop_columns([c for c in ("mtime",) if c in self._images.column_names])
        ids = int64_column(self._images, "id")
        order = np.argsort(ids, kind="stable")
        self._sorted_ids, self._order = ids[order], order
        self.browse = Browser(self.store.folder, self.name, self.store.manifest.roots, self._images, self._rows_of)
        if self._prefetch_wanted:
            self._warm()

    def _warm(self) -> None:
        """Open the index and the biases now, and pre-fault the mapped pages queries touch in the
        background (index/prefetch.py), up to the collection's index memory budget: the first
        queries then run at the speed of the next ones. A part that cannot be read is left for
        the first query to report."""
        if self._prefetch is not None:
            self._prefetch.stop()
        m = self.store.manifest.index
        budget = m.get("max_memory") or (m.get("memory") or {}).get("budget") or default_memory_budget()
        try:
            self._stored_bias("image_bias")
            self._prefetch = self.index.prefetch(int(budget))
        except VsearchError:
            self._prefetch = None

    def reload(self) -> bool:
        """Pick up a newer committed generation (and let the old one go); True if there was one."""
        if self.store.refresh():
            self._load_tables()
            return True
        return False

    def close(self) -> None:
        """Let the generation this collection reads go (a commit may then remove its files)."""
        if self._prefetch is not None:
            self._prefetch.stop()
        self.store.unpin()

    def __enter__(self) -> "Collection":
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    @property
    def model(self):
        """The collection's model (loaded with PyTorch on first use)."""
        if self._model is None:
            from ..models import load_model

            m = load_model(self._model_name or self.store.manifest.model["name"], self._device)
            check_model(self.store.manifest.model, m, self.name)
            self._model = m
        return self._model

    @property
    def reranker(self):
        """The ITM reranker: the one handed in when opening, else the model's shipped one, else None."""
        return self.reranking.reranker

    @property
    def preprocess(self):
        """How the collection's model prepares an image (its input size above all), known without
        building the model when its image export is cached."""
        return self._encoder.handle.preprocess

    @property
    def index(self):
        if self._index is None:
            self._index = self.store.index()
        return self._index

    @property
    def images(self) -> pa.Table:
        return self._images

    def info(self, disk_usage: bool = True) -> dict[str, Any]:
        """Model, index, counts, roots and generation; `disk_usage` also sums the folder's size
        (a directory walk: leave it off in interactive loops)."""
        m = self.store.manifest
        return {"name": self.name, "folder": str(self.store.folder), "model": m.model["name"],
                "fingerprint": m.model["fingerprint"], "dim": m.model["embed_dim"], "precision": m.model.get("precision", "fp32"), "index": m.index,
                "counts": m.counts, "roots": [shown(r) for r in m.roots], "generation": m.generation, "format_version": m.format_version,
                "created": m.created, "updated": m.updated, "last_ingest": {k: shown(v) if k == "root" else v for k, v in m.last_ingest.items()},
                "hubness_correction": bool(m.files.get("image_bias")), "legacy_index": self.store.index_is_legacy(),
                "disk_bytes": self.store.disk_bytes() if disk_usage else None}

    # --- browsing (search/browse.py) -----------------------------------------------------------
    def file_path(self, id_: int) -> Path:
        return self.browse.file_path(id_)

    def thumbnail(self, id_: int, size: int = 320) -> Path:
        return self.browse.thumbnail(id_, size)

    def metadata(self, id_: int) -> list[dict[str, Any]]:
        return self.browse.metadata(id_)

    def facets(self) -> dict[str, Any]:
        return self.browse.facets()

    # --- rows and ids --------------------------------------------------------------------------
    def _row_numbers(self, id_: int) -> list[int]:
        """Rows of the images table holding content `id_` (several for duplicates)."""
        lo = np.searchsorted(self._sorted_ids, id_, "left")
        hi = np.searchsorted(self._sorted_ids, id_, "right")
        return self._order[lo:hi].tolist()

    def _rows_of(self, id_: int) -> list[dict]:
        # slice, not take(): Table.take imports pandas (~0.3 s of a cold query)
        return [self._rows_view.slice(n, 1).to_pylist()[0] for n in self._row_numbers(id_)]

    def resolve_image(self, ref: str | int) -> int:
        """An id, or a path (absolute, or relative to a root) of an ingested file -> its id."""
        try:
            id_ = int(ref)
            if self._row_numbers(id_):
                return id_
        except (TypeError, ValueError):
            pass
        ref_s = str(ref)
        rows = self._images.select(["path", "raw_path", "root"]).to_pylist()
        roots = {shown(r): r for r in self.store.manifest.roots}
        absref = str(Path(ref_s).expanduser().resolve()) if Path(ref_s).expanduser().exists() else None
        for i, row in enumerate(rows):
            name = on_disk(row)  # a name that is not UTF-8 is matched by its bytes, or by its shown form
            if ref_s in (name, row["path"]) or (absref and str(Path(roots.get(row["root"], row["root"])) / name) == absref):
                return int(self._images.column("id")[i].as_py())
        raise QueryError(f"{valid_utf8(ref_s)!r} is neither an id nor the path of an image in collection {self.name!r}")

    # --- query encoding (search/query_encoder.py) ----------------------------------------------
    def _image_vector(self, image: str | Path | Image.Image) -> np.ndarray:
        return self._encoder.image(image)

    def image_vector(self, image: str | Path | Image.Image) -> np.ndarray:
        """The query vector of an image (a file, or a decoded picture), for `search(vector=...)`:
        what a caller caches instead of the picture (the UI does)."""
        return self._image_vector(image)

    def _text_vector(self, text: str) -> np.ndarray:
        return self._encoder.text(text)

    # --- image search --------------------------------------------------------------------------
    def search(self, text: str | None = None, *, image: str | Path | Image.Image | None = None,
               like: str | int | None = None, k: int = 10, where: "str | Filter | None" = None,
               vector: np.ndarray | None = None, rerank: bool = False, rerank_k: int | None = None,
               hubness: bool = True) -> list[Hit]:
        """Top-k images for a text, an image, an ingested image (`like`) or a raw vector.
        With `rerank` (text queries), the ITM cross-encoder reorders the dual encoder's top
        `rerank_k`; nothing outside them is ever returned in their place. Text queries are ranked
        with the model's hubness correction when the collection stores one (`hubness=False`:
        plain cosine)."""
        _check_k(k)
        given = [x is not None for x in (text, image, like, vector)]
        if sum(given) != 1:
            raise QueryError("give exactly one of: text, image, like, vector")
        if rerank and text is None:
            raise QueryError("--rerank applies to text queries (text -> image) and to --texts")
        depth = self.reranking.depth(rerank_k) if rerank else 0
        exclude = None
        if text is not None:
            if not text.strip():
                raise QueryError("empty query text")
            q = self._text_vector(text)
        elif image is not None:
            q = self._image_vector(image)
        elif like is not None:
            exclude = self.resolve_image(like)
            q = self.index.reconstruct(exclude)
        else:
            q = np.asarray(vector, dtype=np.float32)
        hits = self.search_vector(q, k=max(k, depth), where=where, exclude=exclude, hubness=hubness and text is not None)
        if depth > 0:
            hits = self.reranking.rerank_hits(hits, depth, text, self.browse.image)
        return hits[:k]

    def _stored_bias(self, key: str) -> tuple[np.ndarray, np.ndarray] | None:
        """`image_bias` / `text_bias` of this generation, read once."""
        if key not in self._bias:
            self._bias[key] = self.store.bias_arrays(key)
        return self._bias[key]

    def search_vector(self, q: np.ndarray, k: int = 10, where: "str | Filter | None" = None,
                      exclude: int | None = None, hubness: bool = False) -> list[Hit]:
        """Top-k for a query vector; `where` is a `--where` filter expression or a `Filter`. With
        `hubness` (a text vector), each image's stored correction is added to its cosine: the
        top `k + HUBNESS_POOL` by cosine are re-ranked that way."""
        _check_k(k)
        if isinstance(where, Filter) and where.is_empty():
            where = None
        if where and self._filter is None:
            self._filter = MetadataFilter(self._images)
        rows = self._filter.rows(where) if where else None  # sorted row numbers
        allowed = None
        if rows is not None:
            if not len(rows):
                return []
            if self._row_positions is None:  # once per generation: a filter is then O(matching rows)
                self._row_positions = self.index.lookup(int64_column(self._images, "id"))
            allowed = self.index.select(positions=self._row_positions[np.asarray(rows, dtype=np.int64)])
        kk = k + (1 if exclude is not None else 0)
        bias = self._stored_bias("image_bias") if hubness else None
        scores, ids = self.index.search(q[None], kk + (HUBNESS_POOL if bias else 0), allowed)
        if bias:
            scores, ids = _corrected(scores, ids, *bias)
        keep = [(float(s), int(i)) for s, i in zip(scores[0], ids[0]) if i >= 0 and i != exclude][:k]
        return [self._hit(i, s, rows) for s, i in keep]

    def _hit(self, id_: int, score: float, matching: np.ndarray | None = None) -> Hit:
        """`matching`: the filter's sorted row numbers; a file that satisfies it is shown first."""
        row_numbers = self._row_numbers(id_)
        if matching is not None:
            at = np.searchsorted(matching, row_numbers)
            inside = (at < len(matching)) & (matching[np.minimum(at, len(matching) - 1)] == row_numbers)
            row_numbers = [n for n, i in zip(row_numbers, inside) if i] + [n for n, i in zip(row_numbers, inside) if not i]
        return hit_from_rows(id_, score, [self._rows_view.slice(n, 1).to_pylist()[0] for n in row_numbers])

    # --- image -> text -------------------------------------------------------------------------
    def search_texts(self, image: str | Path | Image.Image | None = None, *, like: str | int | None = None,
                     k: int = 10, rerank: bool = False, rerank_k: int | None = None, hubness: bool = True) -> list[TextHit]:
        """The corpus texts that best describe an image (a file, a PIL image, or an ingested
        image `like`), ranked with the model's hubness correction unless `hubness=False`."""
        _check_k(k)
        if (image is None) == (like is None):
            raise QueryError("give exactly one of: image, like")
        if self.store.manifest.counts.get("texts", 0) == 0:
            raise QueryError(f"collection {self.name!r} has no text corpus; add one with `vsearch texts add FILE`")
        like_id = self.resolve_image(like) if like is not None else None
        depth = self.reranking.depth(rerank_k) if rerank else 0
        q = self._image_vector(image) if image is not None else self.index.reconstruct(like_id)
        if self._texts is None:
            self._texts = self.store.texts()
            self._texts_index = self.store.texts_index()
        bias = self._stored_bias("text_bias") if hubness else None
        want = max(k, depth)
        scores, ids = self._texts_index.search(q[None], want + (HUBNESS_POOL if bias else 0))
        if bias:
            scores, ids = _corrected(scores, ids, *bias)
        texts, sources = self._texts.column("text"), self._texts.column("source")
        hits = [TextHit(int(i), float(s), texts[int(i)].as_py(), sources[int(i)].as_py())
                for s, i in zip(scores[0][:want], ids[0][:want]) if i >= 0]
        if depth > 0 and hits:
            memory = (self.reranking.memory_of_images([image]) if image is not None
                      else self._memory_of_ingested(like_id))
            hits = self.reranking.reorder(hits, depth, memory, [h.text for h in hits[:depth]])
        return hits[:k]

    def _memory_of_ingested(self, id_: int):
        """The reranker's tokens of an ingested image (image -> text with `like`)."""
        usable, memory = self.reranking.memory_of_hits([self._hit(id_, 0.0)], self.browse.image)
        if not usable:
            raise QueryError(f"image {id_} has changed since it was ingested; re-run `vsearch ingest` on its folder")
        return memory


def _check_k(k: int) -> None:
    if not isinstance(k, (int, np.integer)) or k < 1:
        raise QueryError(f"k must be a whole number of at least 1 (got {k!r})")


def _corrected(scores: np.ndarray, ids: np.ndarray, bias_ids: np.ndarray, bias: np.ndarray):
    add, _ = lookup(bias_ids, bias, ids)
    s = np.where(ids >= 0, scores + add, -np.inf)
    order = np.argsort(-s, axis=1, kind="stable")
    return np.take_along_axis(s, order, 1), np.take_along_axis(ids, order, 1)


def open_collection(name: str | None = None, home: str | Path | None = None, model=None,
                    device: str | None = None, reranker=None, prefetch: bool = True) -> Collection:
    """Open a collection for searching. `model`: None (the collection's own), a name that must
    match it, or an already-loaded DualEncoder. `reranker`: a Reranker object or an ITM
    checkpoint path to use instead of the model's shipped one. `prefetch`: open the index now
    and pre-fault its pages in the background, for a process that will run many queries (a
    one-shot query, or `info`, passes False: the index then opens on the first query)."""
    return Collection(name, home, model, device, reranker, prefetch)
