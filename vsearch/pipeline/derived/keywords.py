"""The keyword index (vsearch/fulltext) as a derived step: `keywords-<gen>/`, one Tantivy index over
each content's words. Today its words are the folder and file names of the images table's rows
(imaging/names.py: camera names say nothing); the XMP/IPTC, sidecar and OCR words join them when
ingest stores them (docs/WORDS.md). Only contents whose rows changed are re-indexed: the rows that
differ between the previous and the new images table are found with Arrow joins, and the previous
generation's index is updated in a new folder (its segments hard-linked, never changed)."""
from __future__ import annotations

import pyarrow as pa
import pyarrow.compute as pc

from ...errors import CollectionFormatError
from ...fulltext import KeywordIndex
from ...fulltext.part import KeywordPart, names_words
from ...store.collection import CollectionStore, repair_hint
from .step import CARRY, DROP, Change, DerivedStep

_ROW = ["root", "path", "id"]


def _of_ids(table: pa.Table, ids: pa.Array) -> pa.Table:
    return table.filter(pc.is_in(table.column("id"), value_set=ids))


class Keywords(DerivedStep):
    key = "keywords"
    subject = "images"
    what = "the keyword index"
    until = "keyword and hybrid search find nothing until then"

    def derive(self, change: Change):
        images = change.tables["images"].select(_ROW)
        previous = None if change.rebuild else self._previous_folder(change.store)
        before = None
        if previous is not None:
            try:
                before = change.store.images().select(_ROW)
            except CollectionFormatError:
                previous = None
        if previous is None:
            words = names_words(images)
            if not len(words):
                return DROP
            return KeywordPart(words)
        added = images.join(before, _ROW, join_type="left anti")
        removed = before.join(images, _ROW, join_type="left anti")
        touched = pa.concat_arrays([added.column("id").combine_chunks(), removed.column("id").combine_chunks()]) \
            .unique() if len(added) or len(removed) else pa.array([], pa.int64())
        if not len(touched):
            return CARRY
        part = KeywordPart(names_words(_of_ids(images, touched)), previous, names_words(_of_ids(before, touched)))
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
