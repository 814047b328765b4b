"""The query path: encode the query -> ANN search (restricted by a metadata filter) -> hits.

`Collection` is the object the CLI and the UI share: open it once, search many times; the
model and the FAISS index stay loaded, and a newer committed generation is picked up by
`reload()`.
"""
from __future__ import annotations

from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
from PIL import Image

from .errors import ModelMismatchError, QueryError
from .filters import Filter
from .models.hubness import lookup
from .models.identity import check_model
from .models.registry import resolve
from .store.collection import CollectionStore, MetadataFilter, int64_column
from .store.home import index_home, pick_collection

# PyTorch is imported only when a model is really needed (image queries, reranking): a cold
# text query runs the text tower through ONNX Runtime (models/fast_text.py).


def read_image(image: str | Path | Image.Image, size: int) -> Image.Image:
    """A query or candidate image, decoded (JPEG draft to ~`size`) and EXIF-rotated."""
    if isinstance(image, Image.Image):
        return image
    from PIL import ImageOps

    from .pipeline.decode import open_image

    try:
        img, _, _ = open_image(Path(image).read_bytes(), draft_to=size)
    except (OSError, ValueError) as e:
        raise QueryError(f"cannot read image {image}: {e}") from e
    return ImageOps.exif_transpose(img)


@dataclass
class Hit:
    id: int
    score: float
    path: str                 # absolute path of the file
    relpath: str
    folder: str
    bytes: int | None = None
    width: int | None = None
    height: int | None = None
    taken_at: str | None = None
    camera: str | None = None
    duplicates: list[str] = field(default_factory=list)
    rerank_score: float | None = None   # set when the ITM reranker reordered this hit

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass
class TextHit:
    id: int
    score: float
    text: str
    source: str | None = None
    rerank_score: float | None = None

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


class Collection:
    def __init__(self, name: str | None = None, home: str | Path | None = None, model=None,
                 device: str | None = None, reranker: str | Path | None = None):
        self.home = index_home(home)
        self.name = pick_collection(name, self.home)
        self.store = CollectionStore(self.home / self.name)
        self._device = device
        self._model = model if model is not None and not isinstance(model, str) else None
        self._fast_text = None
        if isinstance(model, str):
            spec = resolve(model)
            wanted = self.store.manifest.model
            if spec.name != wanted["name"] and spec.kind != "checkpoint":
                raise ModelMismatchError(
                    f"collection {self.name!r} was built with model {wanted['name']!r}; it cannot be searched with "
                    f"{model!r}. Omit --model, or ingest into a new collection with --model {model}.")
            self._model_name = model
        else:
            self._model_name = None
        self._reranker_path = reranker
        self._reranker = None
        self._memories: dict[int, object] = {}
        if self._model is not None:
            check_model(self.store.manifest.model, self._model, self.name)
        self._load_tables()

    def _load_tables(self) -> None:
        self._images = self.store.images()
        self._index = None
        self._texts = None
        self._texts_index = None
        self._filter = None
        self._facets = None
        self._tokens = None
        self._roots = None
        self._bias: dict[str, tuple[np.ndarray, np.ndarray] | None] = {}
        # Hits are built from this view: converting the tz-aware `mtime` would import pandas.
        self._rows_view = self._images.drop_columns([c for c in ("mtime",) if c in self._images.column_names])
        ids = int64_column(self._images, "id")
        order = np.argsort(ids, kind="stable")
        self._sorted_ids, self._order = ids[order], order

    def reload(self) -> bool:
        """Pick up a newer committed generation; True if there was one."""
        if self.store.refresh():
            self._load_tables()
            return True
        return False

    @property
    def model(self):
        """The collection's model (loaded with PyTorch on first use)."""
        if self._model is None:
            from .models import load_model

            m = load_model(self._model_name or self.store.manifest.model["name"], self._device)
            check_model(self.store.manifest.model, m, self.name)
            self._model = m
        return self._model

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
                "fingerprint": m.model["fingerprint"], "dim": m.model["embed_dim"], "index": m.index,
                "counts": m.counts, "roots": m.roots, "generation": m.generation, "format_version": m.format_version,
                "created": m.created, "updated": m.updated, "last_ingest": m.last_ingest,
                "hubness_correction": bool(m.files.get("image_bias")),
                "disk_bytes": self.store.disk_bytes() if disk_usage else None}

    # --- query encoding ----------------------------------------------------------------------
    def _image_vector(self, image: str | Path | Image.Image) -> np.ndarray:
        return self.model.encode_images([read_image(image, self.model.preprocess.size)])[0]

    def _row_numbers(self, id_: int) -> list[int]:
        """Rows of the images table holding content `id_` (several for duplicates)."""
        lo = np.searchsorted(self._sorted_ids, id_, "left")
        hi = np.searchsorted(self._sorted_ids, id_, "right")
        return self._order[lo:hi].tolist()

    def _text_vector(self, text: str) -> np.ndarray:
        if self._model is None and self._model_name is None:
            if self._fast_text is None:
                from .models.fast_text import fast_text_encoder

                self._fast_text = fast_text_encoder(self.store.manifest.model) or False
            if self._fast_text:
                return self._fast_text.encode_texts([text])[0]
        return self.model.encode_texts([text])[0]

    def _row(self, n: int) -> dict:
        # slice, not take(): Table.take imports pandas (~0.3 s of a cold query)
        return self._rows_view.slice(n, 1).to_pylist()[0]

    def resolve_image(self, ref: str | int) -> int:
        """An id, or a path (absolute, or relative to a root) of an ingested file -> its id."""
        try:
            id_ = int(ref)
            if self._row_numbers(id_):
                return id_
        except (TypeError, ValueError):
            pass
        ref_s = str(ref)
        paths = self._images.column("path").to_pylist()
        roots = self._images.column("root").to_pylist()
        absref = str(Path(ref_s).expanduser().resolve()) if Path(ref_s).expanduser().exists() else None
        for i, (p, r) in enumerate(zip(paths, roots)):
            if p == ref_s or (absref and str(Path(r) / p) == absref):
                return int(self._images.column("id")[i].as_py())
        raise QueryError(f"{ref_s!r} is neither an id nor the path of an image in collection {self.name!r}")

    # --- reranking ---------------------------------------------------------------------------
    @property
    def reranker(self):
        """The ITM reranker: the checkpoint given when opening, else the one shipped for the model, else None."""
        if self._reranker is None:
            from .models.itm import load_reranker

            self._reranker = load_reranker(self.store.manifest.model["name"], self._reranker_path) or False
        return self._reranker or None

    def _rerank_k(self, rerank_k: int | None) -> int:
        rr = self.reranker
        if rr is None:
            raise QueryError(f"model {self.store.manifest.model['name']!r} has no reranker; search without --rerank")
        return rr.default_k if rerank_k is None else rerank_k

    def _reranker_memory(self, images: list) -> "object":
        """The reranker's image tokens for images (paths or PIL images)."""
        rr = self.reranker
        pp = rr.towers.preprocess
        return rr.image_memory(pp.normalize(np.stack([pp.to_pixels(read_image(i, pp.size)) for i in images])))

    def _image_memories(self, hits: list[Hit]):
        """The reranker's image tokens of hits: stored at ingest (a memory-mapped lookup), else
        computed from the files (and kept for this session)."""
        import torch

        if self._tokens is None:
            from .store.tokens import TokenStore

            self._tokens = TokenStore(self.store.folder, self.reranker.fingerprint)
        stored = self._tokens.lookup([h.id for h in hits])
        missing = [h for h, t in zip(hits, stored) if t is None and h.id not in self._memories]
        if missing:
            for h, m in zip(missing, self._reranker_memory([h.path for h in missing])):
                self._memories[h.id] = m
        return torch.stack([torch.from_numpy(t.astype(np.float32)) if t is not None else self._memories[h.id]
                            for h, t in zip(hits, stored)])

    def _reorder(self, hits: list, rerank_k: int, memory, texts: list[str]) -> list:
        """Score the top `rerank_k` hits with the ITM and put them back in that order; the rest
        keep the dual encoder's order."""
        top, rest = hits[:rerank_k], hits[rerank_k:]
        if not top:
            return hits
        rr = self.reranker
        hidden, mask = rr.text_hidden(texts)
        for h, s in zip(top, rr.score(memory, hidden, mask)):
            h.rerank_score = float(s) + rr.alpha * h.score
        return sorted(top, key=lambda h: -h.rerank_score) + rest

    def search(self, text: str | None = None, *, image: str | Path | Image.Image | None = None,
               like: str | int | None = None, k: int = 10, where: "str | Filter | None" = None,
               vector: np.ndarray | None = None, rerank: bool = False, rerank_k: int | None = None,
               hubness: bool = True) -> list[Hit]:
        """Top-k images for a text, an image, an ingested image (`like`) or a raw vector.
        With `rerank` (text queries), the ITM cross-encoder reorders the dual encoder's top
        `rerank_k`; nothing outside them is ever returned in their place. Text queries are ranked
        with the model's hubness correction when the collection stores one (`hubness=False`:
        plain cosine)."""
        if rerank:
            if text is None:
                raise QueryError("--rerank applies to text queries (text -> image) and to --texts")
            rk = self._rerank_k(rerank_k)
            if rk > 0:
                hits = self.search(text, k=max(k, rk), where=where, hubness=hubness)
                return self._reorder(hits, rk, self._image_memories(hits[:rk]), [text])[:k]
        given = [x is not None for x in (text, image, like, vector)]
        if sum(given) != 1:
            raise QueryError("give exactly one of: text, image, like, vector")
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
        return self.search_vector(q, k=k, where=where, exclude=exclude, hubness=hubness and text is not None)

    def _stored_bias(self, key: str) -> tuple[np.ndarray, np.ndarray] | None:
        """`image_bias` / `text_bias` of this generation, read once."""
        if key not in self._bias:
            self._bias[key] = self.store.bias_arrays(key)
        return self._bias[key]

    def search_vector(self, q: np.ndarray, k: int = 10, where: "str | Filter | None" = None,
                      exclude: int | None = None, hubness: bool = False) -> list[Hit]:
        """Top-k for a query vector; `where` is a `--where` SQL predicate or a `Filter`. With
        `hubness` (a text vector), each image's stored correction is added to its cosine: the
        top `k + HUBNESS_POOL` by cosine are re-ranked that way."""
        if isinstance(where, Filter) and where.is_empty():
            where = None
        if where and self._filter is None:
            self._filter = MetadataFilter(self._images)
        matching = set(self._filter.rows(where).tolist()) if where else None
        allowed = None
        if matching is not None:
            if not matching:
                return []
            allowed = np.unique(int64_column(self._images, "id")[sorted(matching)])
        kk = k + (1 if exclude is not None else 0)
        bias = self._stored_bias("image_bias") if hubness else None
        scores, ids = self.index.search(q[None], kk + (HUBNESS_POOL if bias else 0), allowed)
        if bias:
            scores, ids = _corrected(scores, ids, *bias)
        keep = [(float(s), int(i)) for s, i in zip(scores[0], ids[0]) if i >= 0 and i != exclude][:k]
        return [self._hit(i, s, matching) for s, i in keep]

    def _hit(self, id_: int, score: float, matching: set[int] | None = None) -> Hit:
        row_numbers = self._row_numbers(id_)
        if matching is not None:  # show a file that satisfies the filter first
            row_numbers.sort(key=lambda n: n not in matching)
        rows = [self._row(n) for n in row_numbers]
        r = rows[0]
        taken = r.get("taken_at")
        return Hit(id=id_, score=score, path=str(Path(r["root"]) / r["path"]), relpath=r["path"], folder=r["folder"],
                   bytes=r.get("bytes"), width=r.get("width"), height=r.get("height"),
                   taken_at=taken.isoformat() if taken else None, camera=r.get("camera"),
                   duplicates=[str(Path(x["root"]) / x["path"]) for x in rows[1:]])

    # --- browsing: files, thumbnails, facets -------------------------------------------------
    def file_path(self, id_: int) -> Path:
        """The file of an ingested image, checked to lie inside one of the collection's roots
        (a link or a stale row pointing elsewhere is refused)."""
        rows = self._row_numbers(int(id_))
        if not rows:
            raise QueryError(f"no image with id {id_} in collection {self.name!r}")
        if self._roots is None:  # rows store each root exactly as the manifest lists it
            self._roots = {r: Path(r).resolve() for r in self.store.manifest.roots}
        for n in rows:
            r = self._row(n)
            root = self._roots.get(r["root"])
            if root is None:
                continue
            p = (root / r["path"]).resolve()
            if p.is_relative_to(root) and p.is_file():
                return p
        raise QueryError(f"image {id_} is no longer inside the collection's roots; re-run `vsearch ingest`")

    def thumbnail(self, id_: int, size: int = 320) -> Path:
        """A JPEG of the image with its longer side <= size; made on first use, then reused."""
        from .thumbnails import save_thumbnail, thumbnail_path

        src = self.file_path(id_)  # checked every time: a cached thumbnail is still a view of the file
        dst = thumbnail_path(self.store.folder, int(id_), size)
        if dst.is_file():
            return dst
        img = read_image(src, size)
        try:
            return save_thumbnail(img, dst, size)
        except OSError as e:
            raise QueryError(f"cannot write a thumbnail of {src}: {e}") from e

    def metadata(self, id_: int) -> list[dict[str, Any]]:
        """The metadata rows of an image (several when the same content is stored twice)."""
        return [{k: (v.isoformat() if hasattr(v, "isoformat") else v) for k, v in self._row(n).items()}
                for n in self._row_numbers(int(id_))]

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

    # --- image -> text -----------------------------------------------------------------------
    def add_texts(self, texts: list[str], source: str | None = None, batch_size: int = 256) -> int:
        """Encode texts into the collection's text corpus (for image->text). Returns the corpus size."""
        from .pipeline.encode import encode_texts
        from .store.collection import TEXTS_SCHEMA
        from .store.index import VectorIndex

        texts = [t.strip() for t in texts if t and t.strip()]
        if not texts:
            raise QueryError("no texts to add")
        with self.store.lock():
            self.store.refresh()
            old = self.store.texts()
            start = len(old)
            vecs = encode_texts(self.model, texts, batch_size)
            if start:
                old_index = self.store.texts_index()
                old_vecs = np.stack([old_index.reconstruct(i) for i in range(start)])
            else:
                old_vecs = np.zeros((0, vecs.shape[1]), np.float32)
            new = pa.table({"id": np.arange(start, start + len(texts), dtype=np.int64), "text": texts,
                            "source": [source] * len(texts)}, schema=TEXTS_SCHEMA)
            table = pa.concat_tables([old, new])
            all_vecs = np.concatenate([old_vecs, vecs])
            ids = np.arange(len(all_vecs), dtype=np.int64)
            index = VectorIndex.build(ids, all_vecs, "flat")
            m = self.store.manifest
            m.counts["texts"] = len(table)
            self.store.commit(m, texts=table, texts_index=index, text_bias=self.store.bias_table("text_bias", self.model.hubness, ids, all_vecs))
        self._load_tables()
        return len(table)

    def search_texts(self, image: str | Path | Image.Image | None = None, *, like: str | int | None = None,
                     k: int = 10, rerank: bool = False, rerank_k: int | None = None, hubness: bool = True) -> list[TextHit]:
        """The corpus texts that best describe an image (a file, a PIL image, or an ingested
        image `like`), ranked with the model's hubness correction unless `hubness=False`."""
        if (image is None) == (like is None):
            raise QueryError("give exactly one of: image, like")
        if self.store.manifest.counts.get("texts", 0) == 0:
            raise QueryError(f"collection {self.name!r} has no text corpus; add one with `vsearch texts add FILE`")
        like_id = self.resolve_image(like) if like is not None else None
        q = self._image_vector(image) if image is not None else self.index.reconstruct(like_id)
        if self._texts is None:
            self._texts = self.store.texts()
            self._texts_index = self.store.texts_index()
        rk = self._rerank_k(rerank_k) if rerank else 0
        bias = self._stored_bias("text_bias") if hubness else None
        scores, ids = self._texts_index.search(q[None], max(k, rk) + (HUBNESS_POOL if bias else 0))
        if bias:
            scores, ids = _corrected(scores, ids, *bias)
        texts, sources = self._texts.column("text"), self._texts.column("source")
        want = max(k, rk)
        hits = [TextHit(int(i), float(s), texts[int(i)].as_py(), sources[int(i)].as_py())
                for s, i in zip(scores[0][:want], ids[0][:want]) if i >= 0]
        if rk > 0 and hits:
            mem = (self._reranker_memory([image]) if image is not None
                   else self._image_memories([self._hit(like_id, 0.0)]))
            hits = self._reorder(hits, rk, mem, [h.text for h in hits[:rk]])
        return hits[:k]


HUBNESS_POOL = 200  # extra cosine candidates re-ranked by the hubness correction (|bias| < ~0.15)


def _corrected(scores: np.ndarray, ids: np.ndarray, bias_ids: np.ndarray, bias: np.ndarray):
    add, _ = lookup(bias_ids, bias, ids)
    s = np.where(ids >= 0, scores + add, -np.inf)
    order = np.argsort(-s, axis=1, kind="stable")
    return np.take_along_axis(s, order, 1), np.take_along_axis(ids, order, 1)


def open_collection(name: str | None = None, home: str | Path | None = None, model=None,
                    device: str | None = None, reranker: str | Path | None = None) -> Collection:
    """Open a collection for searching. `model`: None (the collection's own), a name that must
    match it, or an already-loaded DualEncoder. `reranker`: an ITM checkpoint to use instead of
    the model's shipped one."""
    return Collection(name, home, model, device, reranker)
