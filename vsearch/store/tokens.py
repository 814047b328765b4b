"""rerank-tokens/<reranker>/: the ITM reranker's image tokens per content id, written at ingest.

Reranking k hits needs each hit's image tokens (the image tower's last feature map, through the
reranker's bottleneck: e.g. 64 positions x 64 dims, 8 KB in fp16). Computing them at query time
means reading and running the image tower on k photos (~1 s at k = 32 on a CPU); storing them
at ingest, when that feature map is computed anyway, makes a rerank a lookup.

Parts (store/parts.py) are pairs of .npy files: fp16 tokens, then the ids (the completion
marker), memory-mapped on read. The folder is keyed by the reranker's fingerprint: tokens from
another reranker are never used.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np

from ..atomic import atomic_write
from .parts import PartStore


def _save_npy(path: Path, arr: np.ndarray, point: str) -> None:
    def write(tmp: Path) -> None:
        with open(tmp, "wb") as f:  # a file object: np.save would add ".npy" to a bare path
            np.save(f, arr)

    atomic_write(path, write, point=point)


class TokenStore(PartStore):
    prefix = "part"
    marker = ".ids.npy"
    what = "reranker tokens"

    def __init__(self, collection_folder: Path, reranker_fingerprint: str):
        super().__init__(Path(collection_folder) / "rerank-tokens" / reranker_fingerprint[:16])
        self._index: dict[int, tuple[int, int]] | None = None
        self._arrays: list[np.ndarray] = []

    def _write_files(self, stem: str, ids: np.ndarray, payload) -> None:
        tokens = np.ascontiguousarray(payload, dtype=np.float16)
        if len(ids) != len(tokens):
            raise ValueError("ids and tokens differ in length")
        _save_npy(self.folder / f"{stem}.tokens.npy", tokens, "tokens")
        _save_npy(self.folder / f"{stem}{self.marker}", ids, "tokens")

    def _read_ids(self, path: Path) -> np.ndarray:
        ids = np.load(path)
        if ids.dtype != np.int64 or ids.ndim != 1:
            raise ValueError("its ids are not a list of int64")
        return ids

    def _verify(self, marker: Path, thorough: bool) -> None:
        ids, tokens = self._read_ids(marker), np.load(self._files(marker)[1], mmap_mode="r")
        if len(ids) != len(tokens) or tokens.dtype != np.float16 or tokens.ndim != 3:
            raise ValueError("its ids and tokens do not match")
        if thorough:
            np.asarray(tokens).sum()

    def _collection(self) -> Path:
        return self.folder.parent.parent

    def _files(self, marker: Path) -> list[Path]:
        return [marker, marker.with_name(marker.name.replace(self.marker, ".tokens.npy"))]

    def _take(self, ids: np.ndarray):
        return np.stack(self.lookup(ids.tolist()))

    def _changed(self) -> None:
        self._index = None

    def _load(self) -> dict[int, tuple[int, int]]:
        if self._index is None:
            self._index, self._arrays = {}, []
            for marker in self.parts():
                try:
                    ids, arr = np.load(marker), np.load(self._files(marker)[1], mmap_mode="r")
                except (OSError, ValueError):
                    continue  # a damaged part: its images get tokens from their files
                if len(ids) != len(arr):
                    continue
                n = len(self._arrays)
                self._arrays.append(arr)
                self._index.update((int(i), (n, r)) for r, i in enumerate(ids))
        return self._index

    def write(self, ids: np.ndarray, tokens: np.ndarray) -> None:
        self.write_part(ids, tokens)

    def lookup(self, ids: list[int]) -> list[np.ndarray | None]:
        """fp16 tokens [positions, dim] per id, None where not stored."""
        idx = self._load()
        return [np.asarray(self._arrays[idx[i][0]][idx[i][1]]) if i in idx else None for i in ids]
