"""Reranking: the ITM cross-encoder reorders the dual encoder's top k of a query.

A `Reranking` is handed a reranker (an object, a checkpoint path, or None for the model's
shipped one) and the collection's stored image tokens; it never searches by itself.
"""
from __future__ import annotations

from pathlib import Path
from typing import Callable

import numpy as np

from ..errors import QueryError
from ..limits import MAX_RERANK_DEPTH, rerank_depth
from .query_image import read_image


class Reranking:
    def __init__(self, collection_folder: Path, model_name: str, reranker=None):
        self._folder = collection_folder
        self._model_name = model_name
        self._given = reranker          # a Reranker, a checkpoint path, or None (the shipped one)
        self._reranker = None
        self._tokens = None
        self._memories: dict[int, object] = {}   # tokens computed from files, kept for the session

    @property
    def reranker(self):
        """The reranker, loaded on first use; None when the model has none."""
        if self._reranker is None:
            given = self._given
            if given is not None and not isinstance(given, (str, Path)):
                self._reranker = given
            else:
                from ..models.itm import load_reranker

                self._reranker = load_reranker(self._model_name, given) or False
        return self._reranker or None

    def depth(self, rerank_k: int | None, available: int = MAX_RERANK_DEPTH) -> int:
        """The hits to rerank: `rerank_k` (default: the reranker's own), bounded (vsearch/limits.py)
        and cut to the `available` candidates."""
        if rerank_k is not None:
            rerank_depth(rerank_k, MAX_RERANK_DEPTH, "--rerank-k")  # a bad number is refused first
        rr = self.reranker
        if rr is None:
            raise QueryError(f"model {self._model_name!r} has no reranker; search without --rerank")
        return rerank_depth(rr.default_k if rerank_k is None else rerank_k, available, "--rerank-k")

    def memory_of_images(self, images: list) -> object:
        """The reranker's image tokens computed from images (paths or PIL images)."""
        rr = self.reranker
        pp = rr.towers.preprocess
        return rr.image_memory(pp.normalize(np.stack([pp.to_pixels(read_image(i, pp.size)) for i in images])))

    def memory_of_hits(self, hits: list, image_of: Callable[[int, int], object]) -> tuple[list, object]:
        """(the hits that can be reranked, their image tokens): stored at ingest (a memory-mapped
        lookup), else computed from the picture `image_of(id, size)` decodes from a file that
        still holds the hit's content (kept for this session). A hit whose files changed since
        the ingest has neither, and is left out."""
        import torch

        from ..store.tokens import TokenStore

        if self._tokens is None:
            self._tokens = TokenStore(self._folder, self.reranker.fingerprint)
        stored = dict(zip((h.id for h in hits), self._tokens.lookup([h.id for h in hits])))
        size = self.reranker.towers.preprocess.size
        for h in hits:
            if stored[h.id] is None and h.id not in self._memories:
                try:
                    image = image_of(h.id, size)
                except QueryError:  # changed or gone since the ingest: its tokens would be another picture's
                    continue
                self._memories[h.id] = self.memory_of_images([image])[0]
        usable = [h for h in hits if stored[h.id] is not None or h.id in self._memories]
        memory = [torch.from_numpy(stored[h.id].astype(np.float32)) if stored[h.id] is not None else self._memories[h.id]
                  for h in usable]
        return usable, (torch.stack(memory) if memory else None)

    def rerank_hits(self, hits: list, k: int, text: str, image_of: Callable[[int, int], object]) -> list:
        """Text -> image: the top `k` hits that can be reranked (memory_of_hits) in the ITM's
        order, then those that cannot, then the rest, in the dual encoder's order."""
        top = hits[:k]
        usable, memory = self.memory_of_hits(top, image_of)
        kept = {id(h) for h in usable}
        scored = self.reorder(usable, len(usable), memory, [text]) if usable else []
        return scored + [h for h in top if id(h) not in kept] + hits[k:]

    def reorder(self, hits: list, k: int, memory, texts: list[str]) -> list:
        """Score the top `k` hits with the ITM and put them back in that order; the rest keep the
        dual encoder's order."""
        top, rest = hits[:k], hits[k:]
        if not top:
            return hits
        rr = self.reranker
        hidden, mask = rr.text_hidden(texts)
        for h, s in zip(top, rr.score(memory, hidden, mask)):
            h.rerank_score = float(s) + rr.alpha * h.score
        return sorted(top, key=lambda h: -h.rerank_score) + rest
