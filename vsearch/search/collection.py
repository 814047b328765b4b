"""The query path: encode the query -> ANN search (restricted by a metadata filter) -> hits.

`Collection` is the read-only object the CLI, the UI and the service share: open it once, search
many times; the model and the FAISS index stay loaded. Writing lives in vsearch.pipeline."""
from __future__ import annotations

import threading
import time
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
from PIL import Image

from ..errors import ModelMismatchError, QueryError, VsearchError
from ..filters import Filter
from ..limits import result_count
from ..models.identity import check_model
from ..models.precision import precision_of
from ..models.registry import resolve
from ..store.collection import CollectionStore
from ..store.home import index_home, pick_collection
from ..store.names import shown
from .duplicates import DuplicateGroup
from .fusion import CUT_MARGIN, DEFAULT_MODE, DEPTH, check_mode, cut_and_sort
from .generation import HUBNESS_POOL, Generation
from .hits import Hit, TextHit
from .query_encoder import QueryEncoder
from .rerank import Reranking

# PyTorch is imported only when a model is really needed (image queries, reranking): a cold
# text query runs the text tower through ONNX Runtime (models/onnx_runtime.py).


class Collection:
    """A collection opened for searching.

    Concurrency contract:

    - Any number of threads may call one `Collection` at the same time (search, search_texts,
      browse, info, reload), while other processes ingest into and commit the collection.
    - Each call reads exactly one committed generation: it takes the current `Generation` (the
      pinned store, its tables, index, filter and row positions) once, at its start, and uses
      nothing else. `snapshot()` gives a view fixed on one generation, for work that spans
      several calls (a web request, a UI rerun): everything done through the view reads that
      generation, however many commits follow.
    - A newer generation replaces the current one atomically, under a lock: by `reload()`, or,
      when opened with `reload_every=S`, by the first call made S seconds or more after the
      previous check that finds a newer generation in manifest.json (one small read per check;
      one thread loads it while the others go on with the generation they have). Calls already
      running finish on the generation they took; its files stay pinned until the last of them
      is done.
    - Without `reload_every`, a collection reads the generation it opened until `reload()`,
      however many commits follow.
    """

    def __init__(self, name: str | None = None, home: str | Path | None = None, model=None,
                 device: str | None = None, reranker=None, reload_every: float | None = None,
                 text_cache: int = 0, prefetch: bool = True):
        self.home = index_home(home)
        self.name = pick_collection(name, self.home)
        self._folder = self.home / self.name
        self._swap = threading.Lock()        # one generation swap at a time
        self._reloading = threading.Lock()   # one automatic reload at a time (the others read on)
        self._reload_every = reload_every
        self._next_check = 0.0
        self._fixed = False                  # a snapshot() view never moves
        self.reload_error: str | None = None  # why the last automatic reload failed (the old generation is kept)
        self._gen = self._open_generation()
        manifest = self._gen.manifest
        self._device = device
        self._model = model if model is not None and not isinstance(model, str) else None
        self._model_name = None
        if isinstance(model, str):
            spec = resolve(model)
            wanted = manifest.model
            if spec.name != wanted.name and spec.kind != "checkpoint":
                raise ModelMismatchError(
                    f"collection {self.name!r} was built with model {wanted.name!r}; it cannot be searched with "
                    f"{model!r}. Omit --model, or ingest into a new collection with --model {model}.")
            self._model_name = model
        if self._model is not None:
            check_model(manifest.model, self._model, self.name)
        self._encoder = QueryEncoder(manifest.model, lambda: self.model, cache_size=text_cache,
                                     torch_free=self._model is None and self._model_name is None, device=self._device)
        self.reranking = Reranking(self._folder, manifest.model.name, reranker)
        if prefetch:
            self._gen.warm()

    # --- generations ---------------------------------------------------------------------------
    def _pinned_store(self) -> CollectionStore:
        store = CollectionStore(self._folder)
        store.pin()
        return store

    def _open_generation(self, store: CollectionStore | None = None) -> Generation:
        store = store or self._pinned_store()
        try:
            return Generation(store, self.name)
        except BaseException:
            store.unpin()
            raise

    def _current(self) -> Generation:
        """The generation a call reads (checking for a newer one first, when following commits)."""
        if self._reload_every is not None and not self._fixed:
            now = time.monotonic()
            if now >= self._next_check:
                self._next_check = now + self._reload_every
                if self._reloading.acquire(blocking=False):
                    try:
                        self.reload()
                        self.reload_error = None
                    except (VsearchError, OSError) as e:  # keep serving the generation we have
                        self.reload_error = str(e)
                    finally:
                        self._reloading.release()
        return self._gen

    def reload(self) -> bool:
        """Pick up a newer committed generation (and let the old one go once nothing reads it);
        True if there was one. Safe while other threads search: they finish on the one they took.
        Costs a manifest read when nothing is new."""
        if self._fixed:
            return False
        store = self._pinned_store()
        if store.manifest.generation <= self._gen.number:
            store.unpin()
            return False
        new = self._open_generation(store)
        new.warm_like(self._gen)
        with self._swap:
            if new.number <= self._gen.number:  # another thread swapped in this or a newer one meanwhile
                new.release()
                return False
            self._gen = new
        return True

    def snapshot(self) -> "Collection":
        """A view of this collection fixed on its current generation, sharing the model and the
        caches: every call through it reads that one generation (reload() does nothing on it)."""
        view = object.__new__(type(self))
        view.__dict__.update(self.__dict__)
        view._gen, view._fixed = self._current(), True
        return view

    @property
    def generation(self) -> int:
        return self._current().number

    @property
    def store(self) -> CollectionStore:
        """The store of the current generation (pinned to it)."""
        return self._current().store

    def close(self) -> None:
        """Let the generation this collection reads go (a commit may then remove its files)."""
        self._gen.release()

    def __enter__(self) -> "Collection":
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    @property
    def model(self):
        """The collection's model (loaded with PyTorch on first use)."""
        if self._model is None:
            from ..models import load_model

            record = self._gen.manifest.model
            m = load_model(self._model_name or record.name, self._device)
            check_model(record, m, self.name)
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
        return self._current().index()

    @property
    def images(self) -> pa.Table:
        return self._current().images

    @property
    def browse(self):
        return self._current().browse

    @property
    def frames(self):
        """Which ids are frames of which video (search/moments.py VideoFrames), once per generation."""
        return self._current().frames()

    def info(self, disk_usage: bool = True) -> dict[str, Any]:
        """Model, index, counts, roots and generation; `disk_usage` also sums the folder's size
        (a directory walk: leave it off in interactive loops)."""
        g = self._current()
        store, m = g.store, g.store.manifest
        return {"name": self.name, "folder": str(store.folder), "model": m.model.name,
                "fingerprint": m.model.fingerprint, "dim": m.model.embed_dim, "precision": precision_of(m.model), "index": m.index.to_json(),
                "counts": m.counts, "roots": [shown(r) for r in m.roots], "generation": m.generation, "format_version": m.format_version,
                "created": m.created, "updated": m.updated, "last_ingest": {k: shown(v) if k == "root" else v for k, v in m.last_ingest.items()},
                "hubness_correction": bool(m.files.get("image_bias")), "legacy_index": store.index_is_legacy(),
                "words": {**g.word_counts(), "keyword_index": bool(m.files.get("keywords"))},
                "duplicate_pairs": bool(m.files.get("duplicates")), "disk_bytes": store.disk_bytes() if disk_usage else None}

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
    def resolve_image(self, ref: str | int) -> int:
        """An id, or a path (absolute, or relative to a root) of an ingested file -> its id."""
        return self._current().resolve(ref, self.name)

    # --- query encoding (search/query_encoder.py) ----------------------------------------------
    def image_vector(self, image: str | Path | Image.Image) -> np.ndarray:
        """The query vector of an image (a file, or a decoded picture), for `search(vector=...)`:
        what a caller caches instead of the picture (the UI does)."""
        return self._encoder.image(image)

    def text_vector(self, text: str) -> np.ndarray:
        """The query vector of a text (from the text cache when opened with `text_cache`)."""
        return self._encoder.text(text)

    @property
    def text_cache_stats(self) -> dict[str, int]:
        """Hits, misses and size of the text-query cache."""
        return self._encoder.cache_stats()

    # --- image search --------------------------------------------------------------------------
    def search(self, text: str | None = None, *, image: str | Path | Image.Image | None = None,
               like: str | int | None = None, k: int = 10, where: "str | Filter | None" = None,
               vector: np.ndarray | None = None, rerank: bool = False, rerank_k: int | None = None,
               hubness: bool = True, dedupe: float | None = None, every_moment: bool = False,
               collapse_duplicates: bool = False, mode: str | None = None, sort: str = "relevance",
               descending: bool | None = None, cutoff: float = CUT_MARGIN) -> list[Hit]:
        """Top-k images for a text, an image, an ingested image (`like`) or a raw vector. A video is
        one hit at its best moment (`moment_s`, its other matching moments in `moments`), or with
        `every_moment` one hit per sampled frame (search/moments.py). `mode` (text queries): semantic,
        keyword or hybrid (search/fusion.py; None: DEFAULT_MODE); a quoted phrase must match in every
        mode. `sort` (taken_at, mtime, name, size; `descending`) orders the hits within `cutoff`. With `rerank` (text queries), the ITM cross-encoder reorders the dual encoder's top
        `rerank_k`; nothing outside them is ever returned in their place. Text queries are ranked
        with the model's hubness correction when the collection stores one (`hubness=False`:
        plain cosine). `dedupe` (a cosine, e.g. 0.94) drops every hit whose stored vector is that
        close to a better one (so fewer than k may come back). `collapse_duplicates`: each group of
        near duplicates (`duplicates()`) once, at its best hit's place, as its keeper, the group's
        other files on the hit (`near_duplicates`); videos are collapsed to their best moment first
        (search/duplicates.py)."""
        g = self._current()
        k = result_count(k, len(g.images))
        given = [x is not None for x in (text, image, like, vector)]
        if sum(given) != 1:
            raise QueryError("give exactly one of: text, image, like, vector")
        if rerank and text is None:
            raise QueryError("--rerank applies to text queries (text -> image) and to --texts")
        depth = self.reranking.depth(rerank_k, len(g.images)) if rerank else 0
        exclude = None
        if text is not None:
            if not text.strip():
                raise QueryError("empty query text")
            q = self._encoder.text(text)
        elif image is not None:
            q = self._encoder.image(image)
        elif like is not None:
            exclude = g.resolve(like, self.name)
            q = g.index().reconstruct(exclude)
        else:
            q = _query_vector(vector, g.manifest.model.embed_dim)
        mode = check_mode(DEFAULT_MODE if mode is None else mode)
        worded = text is not None and (mode != "semantic" or '"' in text) and g.words().indexed
        wide = min(DEPTH, len(g.images)) if worded or sort != "relevance" else 0
        hits = g.search_vector(q, max(k, depth, wide), where, exclude, hubness and text is not None, every_moment,
                               collapse_duplicates)
        if depth > 0:
            hits = self.reranking.rerank_hits(hits, depth, text, g.browse.image)
        finish = lambda found: cut_and_sort(found, mode, sort, descending, cutoff)[:k]  # noqa: E731
        hits = (g.words().rerank(mode, text, hits, g.allowed_ids(where), g.same_result(every_moment, collapse_duplicates),
                                 finish) if worded else finish(hits))
        return g.deduplicated(hits, dedupe) if dedupe is not None else hits

    def search_vector(self, q: np.ndarray, k: int = 10, where: "str | Filter | None" = None,
                      exclude: int | None = None, hubness: bool = False, every_moment: bool = False,
                      collapse_duplicates: bool = False) -> list[Hit]:
        """Top-k for a query vector; `where` is a `--where` filter expression or a `Filter`. With
        `hubness` (a text vector), each image's stored correction is added to its cosine: the
        top `k + HUBNESS_POOL` by cosine are re-ranked that way. A video is one hit, at its best
        moment, unless `every_moment`: then each sampled frame is a hit. `collapse_duplicates`: as
        in `search`."""
        g = self._current()
        k = result_count(k, len(g.images))
        return g.search_vector(_query_vector(q, g.manifest.model.embed_dim), k, where, exclude, hubness, every_moment,
                               collapse_duplicates)

    # --- near duplicates (search/duplicates.py) --------------------------------------------------
    def duplicates(self, threshold: float | None = None, offset: int = 0, limit: int | None = None) -> list[DuplicateGroup]:
        """The near-duplicate groups, the largest first (`limit` of them from `offset`): each member's path,
        size, resolution, date and similarity to the keeper, the keeper first with the rule that chose it. At
        the default rule, or another `threshold` (the cosine the vectors must reach, from 0.75). Nothing is
        ever deleted or moved."""
        return self._current().duplicates().groups(threshold, offset, limit)

    # --- image -> text -------------------------------------------------------------------------
    def search_texts(self, image: str | Path | Image.Image | None = None, *, like: str | int | None = None,
                     k: int = 10, rerank: bool = False, rerank_k: int | None = None, hubness: bool = True,
                     vector: np.ndarray | None = None) -> list[TextHit]:
        """The corpus texts that best describe an image (a file, a PIL image, an ingested image
        `like`, or an image's query `vector`), ranked with the model's hubness correction unless
        `hubness=False`."""
        g = self._current()
        corpus = g.manifest.counts.get("texts", 0)
        k = result_count(k, corpus)
        if sum(x is not None for x in (image, like, vector)) != 1:
            raise QueryError("give exactly one of: image, like, vector")
        if rerank and vector is not None:
            raise QueryError("rerank needs the image itself (image or like), not its vector")
        if corpus == 0:
            raise QueryError(f"collection {self.name!r} has no text corpus; add one with `vsearch texts add FILE`")
        like_id = g.resolve(like, self.name) if like is not None else None
        depth = self.reranking.depth(rerank_k, corpus) if rerank else 0
        if vector is not None:
            q = _query_vector(vector, g.manifest.model.embed_dim)
        else:
            q = self._encoder.image(image) if image is not None else g.index().reconstruct(like_id)
        texts, _ = g.texts()
        text_col, sources = texts.column("text"), texts.column("source")
        hits = [TextHit(i, s, text_col[i].as_py(), sources[i].as_py()) for i, s in g.search_texts(q, max(k, depth), hubness)]
        if depth > 0 and hits:
            memory = (self.reranking.memory_of_images([image]) if image is not None
                      else self._memory_of_ingested(g, like_id))
            hits = self.reranking.reorder(hits, depth, memory, [h.text for h in hits[:depth]])
        return hits[:k]

    def text(self, id_: int) -> TextHit | None:
        """A corpus text by its id (None when there is no such text)."""
        g = self._current()
        if g.manifest.counts.get("texts", 0) == 0:
            return None
        texts, _ = g.texts()
        if not isinstance(id_, (int, np.integer)) or not 0 <= id_ < len(texts):
            return None
        return TextHit(int(id_), 0.0, texts.column("text")[int(id_)].as_py(), texts.column("source")[int(id_)].as_py())

    def _memory_of_ingested(self, g: Generation, id_: int):
        """The reranker's tokens of an ingested image (image -> text with `like`)."""
        usable, memory = self.reranking.memory_of_hits([g.hit(id_, 0.0)], g.browse.image)
        if not usable:
            raise QueryError(f"image {id_} has changed since it was ingested; re-run `vsearch ingest` on its folder")
        return memory


def _query_vector(vector, dim: int) -> np.ndarray:
    """A caller's query vector, checked: `dim` finite numbers, not all zero; normalised (every
    stored vector is, and similarity is their inner product)."""
    try:
        q = np.asarray(vector, dtype=np.float32)
    except (TypeError, ValueError) as e:
        raise QueryError(f"a query vector is a list of {dim} numbers ({e})") from None
    if q.shape != (dim,):
        raise QueryError(f"a query vector for this collection has {dim} numbers (got shape {tuple(q.shape)})")
    if not np.isfinite(q).all():
        raise QueryError("a query vector must hold finite numbers (no NaN or infinity)")
    norm = float(np.linalg.norm(q))
    if norm == 0.0 or not np.isfinite(norm):
        raise QueryError("a query vector must not be all zeros")
    return q / norm


def open_collection(name: str | None = None, home: str | Path | None = None, model=None,
                    device: str | None = None, reranker=None, *, reload_every: float | None = None,
                    text_cache: int = 0, prefetch: bool = True) -> Collection:
    """Open a collection for searching. `model`: None (the collection's own), a name that must
    match it, or an already-loaded DualEncoder. `reranker`: a Reranker object or an ITM
    checkpoint path to use instead of the model's shipped one. `reload_every`: follow commits,
    checking for a newer generation at most every that many seconds (see Collection).
    `text_cache`: keep the query vectors of that many recent distinct texts. `prefetch`: open and
    pre-fault the index now (index/prefetch.py); False for one-shot use (`info`, one query)."""
    return Collection(name, home, model, device, reranker, reload_every=reload_every, text_cache=text_cache, prefetch=prefetch)
