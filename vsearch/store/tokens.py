"""rerank-tokens/<reranker>/: the ITM reranker's image tokens per content id, written at ingest.

Reranking k hits needs each hit's image tokens (the image tower's last feature map, through the
reranker's bottleneck: e.g. 64 positions x 64 dims, 8 KB in fp16). Computing them at query time
means reading and running the image tower on k photos (~1 s at k = 32 on a CPU); storing them
at ingest, when that feature map is computed anyway, makes a rerank a lookup.

Parts are appended per encoded batch, like vector shards (so a killed ingest resumes), as a
pair of .npy files: ids (written last, so a part without one is incomplete and ignored) and
fp16 tokens, memory-mapped on read. The folder is keyed by the reranker's fingerprint: tokens
from another reranker are never used.
"""
from __future__ import annotations

import os
import uuid
from pathlib import Path

import numpy as np


def _write_npy(path: Path, arr: np.ndarray) -> None:
    tmp = path.with_name(f".{path.name}.tmp")
    with open(tmp, "wb") as f:
        np.save(f, arr)
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, path)


class TokenStore:
    def __init__(self, collection_folder: Path, reranker_fingerprint: str):
        self.folder = Path(collection_folder) / "rerank-tokens" / reranker_fingerprint[:16]
        self._index: dict[int, tuple[int, int]] | None = None
        self._parts: list[np.ndarray] = []

    def _part_ids(self) -> list[Path]:
        return sorted(self.folder.glob("part-*.ids.npy")) if self.folder.is_dir() else []

    def write_part(self, ids: np.ndarray, tokens: np.ndarray) -> None:
        if len(ids) != len(tokens):
            raise ValueError("ids and tokens differ in length")
        self.folder.mkdir(parents=True, exist_ok=True)
        stem = f"part-{uuid.uuid4().hex}"
        _write_npy(self.folder / f"{stem}.tokens.npy", np.ascontiguousarray(tokens, dtype=np.float16))
        _write_npy(self.folder / f"{stem}.ids.npy", np.asarray(ids, dtype=np.int64))
        self._index = None

    def known_ids(self) -> set[int]:
        out: set[int] = set()
        for p in self._part_ids():
            out.update(np.load(p).tolist())
        return out

    def _load(self) -> dict[int, tuple[int, int]]:
        if self._index is None:
            self._index, self._parts = {}, []
            for p in self._part_ids():
                tok = p.with_name(p.name.replace(".ids.npy", ".tokens.npy"))
                try:
                    ids, arr = np.load(p), np.load(tok, mmap_mode="r")
                except (OSError, ValueError):
                    continue  # an interrupted part: its images get tokens from their files
                if len(ids) != len(arr):
                    continue
                n = len(self._parts)
                self._parts.append(arr)
                self._index.update((int(i), (n, r)) for r, i in enumerate(ids))
        return self._index

    def lookup(self, ids: list[int]) -> list[np.ndarray | None]:
        """fp16 tokens [positions, dim] per id, None where not stored."""
        idx = self._load()
        return [np.asarray(self._parts[idx[i][0]][idx[i][1]]) if i in idx else None for i in ids]

    def compact(self, live_ids: np.ndarray) -> None:
        """Rewrite into one part holding only live ids (done with the vector shards)."""
        idx = self._load()
        keep = [int(i) for i in live_ids if int(i) in idx]
        old = self._part_ids()
        if keep:
            self.write_part(np.array(keep, dtype=np.int64), np.stack(self.lookup(keep)))
        new = set(self._part_ids()) - set(old)
        for p in old:
            if p not in new:
                p.unlink(missing_ok=True)
                p.with_name(p.name.replace(".ids.npy", ".tokens.npy")).unlink(missing_ok=True)
        self._index = None
