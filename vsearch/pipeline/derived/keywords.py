"""The keyword index (vsearch/fulltext) as a derived step: `keywords-<gen>/`, one Tantivy index over
each content's words: what the file embeds and its OCR text (the images table's word columns),
its sidecar's (merged in, store/words.py), its folder and file names (imaging/names.py: camera
names say nothing). Only contents whose rows changed are re-indexed: the rows that differ between
the previous and the new images table (path, content or any word) are found with Arrow joins, and
the previous generation's index is updated in a new folder (its segments hard-linked, never
changed). Built from the images table alone: a repair or `vsearch reindex` rebuilds it from the
stored words, never reading a photo."""
from __future__ import annotations

import pyarrow as pa
import pyarrow.compute as pc

from ...errors import CollectionFormatError
from ...fulltext import KeywordIndex
from ...fulltext.part import WORDS_SCHEMA, KeywordPart, words_parts, words_table
from ...store.collection import CollectionStore, repair_hint
from ...store import spill
from ...store.words import words_key
from .step import CARRY, DROP, Change, DerivedStep

_ROW = ["root", "path", "id", "_words"]


def _rows(images: pa.Table) -> pa.Table:
    """What tells two generations' rows apart: the file, its content and its words."""
    return images.select(["root", "path", "id"]).append_column("_words", words_key(images))


def _of_ids(images: pa.Table, ids: pa.Array) -> pa.Table:
    return images.filter(pc.is_in(images.column("id"), value_set=ids))


class Keywords(DerivedStep):
    key = "keywords"
    subject = "images"
    what = "the keyword index"
    until = "keyword and hybrid search find nothing until then"

    def derive(self, change: Change):
        images = change.tables["images"]
        previous = None if change.rebuild else self._previous_folder(change.store)
        before = None
        if previous is not None:
            try:
                before = change.store.images()
            except CollectionFormatError:
                previous = None
        if previous is None:
            if not len(images):
                return DROP
            big = len(images) > spill.SPILL_ROWS  # a new index of millions of photos: the words mapped, not held
            words = spill.spilled(words_parts(images), WORDS_SCHEMA, change.store.folder) if big else words_table(images)
            return KeywordPart(words)
        now, then = _rows(images), _rows(before)
        added = now.join(then, _ROW, join_type="left anti")
        removed = then.join(now, _ROW, join_type="left anti")
        touched = pa.concat_arrays([added.column("id").combine_chunks(), removed.column("id").combine_chunks()]) \
            .unique() if len(added) or len(removed) else pa.array([], pa.int64())
        if not len(touched):
            return CARRY
        part = KeywordPart(words_table(_of_ids(images, touched)), previous, words_table(_of_ids(before, touched)))
        return CARRY if part.unchanged else part

    def _previous_folder(self, store: CollectionStore):
        name = store.manifest.files.get(self.key) if store.exists() else None
        if not name or not (store.folder / name / "meta.json").is_file():
            return None
        try:
            KeywordIndex(store.folder / name)
        except CollectionFormatError:
            return None
        return store.folder / name

    def read(self, store: CollectionStore) -> KeywordIndex:
        """The generation's keyword index, opened and searched once (a damaged one cannot be)."""
        path = store.folder / store.manifest.files.get(self.key, "")
        try:
            index = KeywordIndex(path)
            len(index)  # opens every segment
            return index
        except (CollectionFormatError, OSError, ValueError) as e:
            raise CollectionFormatError(f"{path.name} of collection {store.name!r} is damaged or missing "
                                        f"({e.__cause__ or e}); {repair_hint(store.name)}") from e
