"""Repair: a collection whose metadata files are damaged comes back from what it stores.

The vector shards are the source of truth. Everything else derives from them (the index, the
hubness biases), can be found again (the images table: which file under the roots holds which
stored content; the errors table: the next ingest of each root finds every unreadable file again),
or is lost and said so (the text corpus: its strings are stored nowhere else).

`repair` runs under the writer lock at the start of every writer's transaction
(pipeline/transaction.py `open`: ingest, import, reindex, texts add):
1. vector shards and reranker token parts that cannot be read are set aside (moved into
   damaged/, never deleted);
2. every Parquet table the manifest names — the recorded tables and the derived ones
   (pipeline/derived) — is read; a damaged or missing one is set aside and
   images -> rebuilt by scanning the manifest's roots and hashing their files: a file whose content
             has a stored vector gets its row back, nothing is decoded or encoded;
   errors -> emptied (the next ingest of each root finds every unreadable file again);
   texts  -> dropped with its derived parts (the corpus has to be added again);
   a derived table (image_bias, text_bias, ...) -> dropped, and built anew by the command's own
             commit when its items' vectors are at hand there (the texts': by `vsearch reindex`);
3. image rows whose content has no stored vector any more (its shard was set aside) are dropped;
4. when anything changed, a repaired generation is committed through the same transaction, which
   runs the derived steps — or, with `derive=False` (reindex, which rebuilds them all next), drops
   those that would change — and the Repair says what was set aside and what was lost.
Nothing is checked twice per command: the tables read here are cached for the caller.
"""
from __future__ import annotations

from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from ..errors import ImageError
from ..escape import valid_utf8
from ..imaging import read_file_bytes
from ..progress import Reporter, report
from ..store.collection import CARRY, DROP, SCHEMAS, CollectionStore
from ..store.names import shown
from ..store.tables import ERRORS_SCHEMA, IMAGES_SCHEMA, int64_column
from ..store.tokens import TokenStore
from .decode import Decoded, content_id, hash_file, video_id
from .scan import media_of
from .derived import STEPS
from .plan import make_plan
from .results import Results

HASH_THREADS = 4  # reading files is I/O; xxh3 hashes at several GB/s
RECORDED = ("images", "errors", "texts")  # what writers record; everything else derives from it


@dataclass
class Repair:
    set_aside: list[str] = field(default_factory=list)  # "what (why) -> damaged/name"
    notes: list[str] = field(default_factory=list)      # what was rebuilt or lost, and the command that brings it back

    def lines(self) -> list[str]:
        return [f"set aside {s}" for s in self.set_aside] + self.notes


def checked_tables() -> dict:
    """Every table a repair checks, with its schema: the recorded ones and the derived tables."""
    return {**{k: SCHEMAS[k] for k in RECORDED}, **{s.key: s.schema for s in STEPS if s.schema is not None}}


def repair(tx, *, thorough: bool = False, derive: bool = True, progress: Reporter | None = None) -> Repair:
    """Check the collection of `tx` (a pipeline/transaction.py Transaction, its model opened, under
    its lock) and repair what is damaged; see the
    module docstring. `thorough` reads every byte of every shard (reindex), else only what is
    cheap. `derive=False`: the caller rebuilds the derived parts, so those that change are dropped."""
    store, manifest = tx.store, tx.store.manifest
    out = Repair()
    parts_lost = _set_aside_parts(store, thorough, out)
    damaged = store.damaged_tables(checked_tables())
    for key, why in damaged.items():
        path = store.folder / manifest.files[key]
        if path.exists():
            out.set_aside.append(f"{path.name} ({why}) -> {store.set_aside(path).relative_to(store.folder)}")
        else:
            out.notes.append(f"{path.name} was missing")
    if not damaged and not parts_lost:
        return out

    known = store.vectors().known_ids()
    tx.previous = IMAGES_SCHEMA.empty_table() if "images" in damaged else store.images()
    tx.previous_errors = ERRORS_SCHEMA.empty_table() if "errors" in damaged else store.errors()
    if "images" in damaged:
        unreadable = {(r["root"], r["path"]) for r in tx.previous_errors.to_pylist()}
        images = _rebuild_images(store, known, unreadable, out, progress)
    else:
        images = tx.previous
    images = _without_lost_vectors(images, known, out)
    images_changed = "images" in damaged or len(images) != len(tx.previous)
    if images_changed and derive:
        out.notes.append(f"{', '.join(s.key for s in STEPS if s.subject == 'images')} brought up to date from the "
                         f"{len(np.unique(int64_column(images, 'id')))} stored vectors")
    if "errors" in damaged:
        out.notes.append("the list of unreadable files was lost: the next `vsearch ingest` of each folder finds them again")
    if "texts" in damaged:
        out.notes.append(f"the text corpus ({manifest.counts.get('texts', 0)} texts) was lost: its texts are stored "
                         f"nowhere else; add it again with `vsearch texts add FILE --collection {store.name}`")
    lost = [s for s in STEPS if s.key in damaged and not (s.subject == "texts" and "texts" in damaged)]
    out.notes += [s.lost_note() for s in lost]
    tx.commit(images=images if images_changed else None,
              errors=ERRORS_SCHEMA.empty_table() if "errors" in damaged else None,
              texts=DROP if "texts" in damaged else CARRY, drop=tuple(s.key for s in STEPS if s.key in damaged),
              defer=not derive)
    return out


def _set_aside_parts(store: CollectionStore, thorough: bool, out: Repair) -> bool:
    """Set aside vector shards and token parts that cannot be read; True if any vector shard was."""
    stores = [store.vectors()]
    tokens = store.folder / "rerank-tokens"
    if tokens.is_dir():
        stores += [TokenStore(store.folder, sub.name) for sub in sorted(tokens.iterdir()) if sub.is_dir()]
    lost_vectors = lost_tokens = False
    for parts in stores:
        for marker, why in parts.damaged(thorough):
            for f in parts.files_of(marker):
                if f.exists():
                    moved = store.set_aside(f)
                    out.set_aside.append(f"{f.relative_to(store.folder)} ({why}) -> {moved.relative_to(store.folder)}")
            lost_tokens |= isinstance(parts, TokenStore)
            lost_vectors |= not isinstance(parts, TokenStore)
    if lost_tokens:
        out.notes.append("images whose reranker tokens were set aside are reranked from their files (slower)")
    return lost_vectors


def _without_lost_vectors(images: pa.Table, known: np.ndarray, out: Repair) -> pa.Table:
    """Drop rows whose content has no stored vector, saying per root what to re-run."""
    has = pa.array(np.isin(int64_column(images, "id"), known))
    if pc.all(has).as_py() is not False:
        return images
    lost = images.filter(pc.invert(has))
    by_root = Counter(lost.column("root").to_pylist())
    for root, n in sorted(by_root.items()):
        out.notes.append(f"{n} photo(s) of {root} lost their stored vectors: the next `vsearch ingest {root}` "
                         f"encodes them again")
    return images.filter(has)


def _rebuild_images(store: CollectionStore, known: np.ndarray, unreadable: set[tuple[str, str]], out: Repair,
                    progress: Reporter | None) -> pa.Table:
    """The images table found again: each root scanned, each file hashed, rows for stored content
    (files the errors table lists as unreadable are not counted as missing)."""
    from .commit import images_table

    known_set = set(known.tolist())
    frames: dict[str, list[Decoded]] | None = None  # video digest -> its stored frames, read on the first video
    empty = IMAGES_SCHEMA.empty_table()
    tables, found = [], set()
    for root_s in store.manifest.roots:
        root = Path(root_s)
        if not root.is_dir():
            out.notes.append(f"{valid_utf8(root_s)} is not reachable: its photos are left out of the rebuilt table "
                             f"(their vectors are kept); run `vsearch reindex` again once it is back")
            continue
        plan = make_plan(root, empty, known, skip={store.folder.parent}, videos=bool(store.manifest.video))
        results = Results(plan)
        results.errors.clear()
        unstored = 0
        task = f"repair: hashing {valid_utf8(root.name)}"
        with ThreadPoolExecutor(HASH_THREADS) as pool:
            for i, (entry, d) in enumerate(zip(plan.todo, pool.map(_content, [root / e.path for e in plan.todo]))):
                if d is not None and d.frames is None and d.id in known_set:
                    results.add(entry, d)
                    found.add(d.id)
                elif d is not None and d.frames is None:
                    unstored += (plan.root_key, shown(entry.path)) not in unreadable
                elif d is not None:  # a video: it is the frames stored under its digest
                    frames = _frames_by_digest(store.vectors(), known_set) if frames is None else frames
                    d.frames = frames.get(d.digest)
                    if d.frames:
                        results.add(entry, d)
                        found.update(f.id for f in d.frames)
                    else:
                        unstored += 1
                report(progress, task, i + 1, len(plan.todo), "file")
        results.add_companions()  # under their stills found again; one whose still is gone waits for an ingest
        tables.append(images_table(results, store.vectors()))  # content metadata: the shards' small columns
        out.notes.append(f"images table rebuilt for {valid_utf8(root_s)}: {len(results.rows)} photo(s) found again"
                         + (f"; {unstored} not stored yet (new or changed since): `vsearch ingest {valid_utf8(root_s)}` "
                            f"adds them" if unstored else ""))
    orphans = len(known_set - found)
    if orphans:
        out.notes.append(f"{orphans} stored vector(s) match no file under the roots any more (moved or deleted photos)")
    table = pa.concat_tables([empty, *tables]) if tables else empty
    return table.sort_by([("root", "ascending"), ("path", "ascending")])


def _content(path: Path) -> Decoded | None:
    """A file's content id (a video: its digest, its frames to be found in the shards)."""
    try:
        if media_of(path.name) == "video":
            digest = hash_file(path)
            return Decoded(digest, video_id(digest), frames=[])
        return Decoded(*content_id(read_file_bytes(path)))
    except (ImageError, MemoryError, OSError):
        return None


def _frames_by_digest(vectors, known: set[int]) -> dict[str, list[Decoded]]:
    """The stored frames of every video, by the video's digest (the shards' small columns)."""
    t = vectors.read(columns=["id", "digest", "frame_ms"])
    out: dict[str, dict[int, Decoded]] = {}
    for r in t.filter(pc.invert(pc.is_null(t["frame_ms"]))).to_pylist():
        if r["id"] in known:
            out.setdefault(r["digest"], {})[r["id"]] = Decoded(r["digest"], r["id"])
    return {digest: list(by_id.values()) for digest, by_id in out.items()}
