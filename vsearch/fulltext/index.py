"""The keyword index: a Tantivy index over each photo's words (one document per content id),
searched with BM25 (per-field boosts), required phrases and prefixes.

Tantivy was chosen over DuckDB's FTS extension (which DuckDB downloads at run time: no offline
install matching the DuckDB in use) and over SQLite FTS5 or a hand-written BM25: it is a
maintained engine (Quickwit's) with BM25, positions for phrases, prefix queries, incremental
adds and deletes, memory-mapped segments, one wheel with no system dependency, and its analyzer
(stemming, accent folding) runs the same on the query side from Python.

On disk a generation's index is a folder (`keywords-<gen>/`), like the vector index. An update
starts from the previous generation's folder: its segment files (which Tantivy never changes once
written) are hard-linked into the new folder, so an ingest that adds 10 photos to 1M writes one
small segment and a new meta.json, and the previous generation stays readable as it was.
"""
from __future__ import annotations

import math
import os
import shutil
from pathlib import Path
from typing import Iterable

import tantivy

from ..errors import CollectionFormatError
from .analysis import ANALYZER, FIELDS, ParsedQuery, analyzer

RAW = "raw"                  # every field once more, unstemmed: what prefixes are matched against
ALL = "all"                  # every field once more, analysed: how many documents hold a term (IDF)
RAW_ANALYZER = "vsearch_raw"
WRITER_HEAP = 32_000_000     # bytes of the writer's buffer (Tantivy's minimum is 15 MB for 1 thread)


def _raw_analyzer() -> tantivy.TextAnalyzer:
    return (tantivy.TextAnalyzerBuilder(tantivy.Tokenizer.simple()).filter(tantivy.Filter.remove_long(40))
            .filter(tantivy.Filter.lowercase()).filter(tantivy.Filter.ascii_fold()).build())


def _schema() -> tantivy.Schema:
    b = tantivy.SchemaBuilder()
    b.add_integer_field("id", stored=True, indexed=True, fast=True)
    for name in FIELDS:
        b.add_text_field(name, stored=False, tokenizer_name=ANALYZER)
    b.add_text_field(RAW, stored=False, tokenizer_name=RAW_ANALYZER, index_option="basic")
    b.add_text_field(ALL, stored=False, tokenizer_name=ANALYZER, index_option="basic")
    return b.build()


def _document(id_: int, words: dict[str, str]) -> tantivy.Document:
    doc = tantivy.Document(id=int(id_))
    for name in FIELDS:
        value = words.get(name)
        if value:
            doc.add_text(name, value)
            doc.add_text(RAW, value)
            doc.add_text(ALL, value)
    return doc


class KeywordIndex:
    """One generation's keyword index, opened from its folder (or new, in memory)."""

    def __init__(self, folder: str | Path | None = None, create: bool = False):
        self.folder = Path(folder) if folder is not None else None
        self.schema = _schema()
        try:
            if self.folder is None:
                self._index = tantivy.Index(self.schema)
            elif create:
                self.folder.mkdir(parents=True, exist_ok=True)
                self._index = tantivy.Index(self.schema, path=str(self.folder), reuse=False)
            else:
                if not (self.folder / "meta.json").is_file():
                    raise OSError(f"{self.folder} holds no keyword index")
                self._index = tantivy.Index.open(str(self.folder))
        except (OSError, ValueError) as e:
            raise CollectionFormatError(f"the keyword index {self.folder} cannot be opened ({e})") from e
        self._index.register_tokenizer(ANALYZER, analyzer())
        self._index.register_tokenizer(RAW_ANALYZER, _raw_analyzer())

    # --- writing ---------------------------------------------------------------------------------
    def apply(self, add: Iterable[tuple[int, dict[str, str]]] = (), delete: Iterable[int] = (),
              replace: bool = True) -> int:
        """Delete the documents of `delete` ids (and, with `replace`, of every id added: an add
        replaces), add the new ones, commit; returns the number added. A new index passes
        replace=False: Tantivy queues every delete in memory until the commit (~1 KB each)."""
        writer = self._index.writer(WRITER_HEAP, 1)
        n = 0
        for id_ in delete:
            writer.delete_documents_by_term("id", int(id_))
        for id_, words in add:
            if replace:
                writer.delete_documents_by_term("id", int(id_))
            if any(words.get(f) for f in FIELDS):
                writer.add_document(_document(id_, words))
                n += 1
        writer.commit()
        writer.wait_merging_threads()
        self._index.reload()
        return n

    @classmethod
    def build(cls, folder: str | Path, docs: Iterable[tuple[int, dict[str, str]]]) -> "KeywordIndex":
        index = cls(folder, create=True)
        index.apply(add=docs, replace=False)
        return index

    @classmethod
    def update(cls, previous: str | Path, folder: str | Path, add: Iterable[tuple[int, dict[str, str]]] = (),
               delete: Iterable[int] = ()) -> "KeywordIndex":
        """A new index in `folder`: the `previous` one (its files hard-linked, never changed) with
        `delete` removed and `add` added or replaced."""
        previous, folder = Path(previous), Path(folder)
        folder.mkdir(parents=True, exist_ok=False)
        for f in previous.iterdir():
            if f.is_file() and not f.name.startswith(".tantivy-"):
                try:
                    os.link(f, folder / f.name)
                except OSError:  # another file system, or links refused: a copy
                    shutil.copy2(f, folder / f.name)
        index = cls(folder)
        index.apply(add=add, delete=delete)
        return index

    # --- reading ---------------------------------------------------------------------------------
    def __len__(self) -> int:
        return self._index.searcher().num_docs

    def query(self, parsed: ParsedQuery) -> tantivy.Query | None:
        """BM25 over the terms in every field (boosted), AND every phrase (in some field), prefixes
        as further optional clauses; None for an empty query."""
        if parsed.is_empty():
            return None
        should = []
        for term in parsed.terms:
            for name, boost in FIELDS.items():
                q = tantivy.Query.term_query(self.schema, name, term, index_option="freq")
                should.append((tantivy.Occur.Should, tantivy.Query.boost_query(q, boost)))
        for prefix in parsed.prefixes:
            q = tantivy.Query.phrase_prefix_query(self.schema, RAW, [prefix])
            should.append((tantivy.Occur.Should, tantivy.Query.const_score_query(q, 1.0)))
        must = []
        for phrase in parsed.phrases:
            per_field = [tantivy.Query.boost_query(
                tantivy.Query.phrase_query(self.schema, name, list(phrase)) if len(phrase) > 1
                else tantivy.Query.term_query(self.schema, name, phrase[0]), boost) for name, boost in FIELDS.items()]
            must.append((tantivy.Occur.Must, tantivy.Query.disjunction_max_query(per_field)))
        return tantivy.Query.boolean_query(must + should)  # with phrases, the rest only adds to the score

    def search(self, parsed: ParsedQuery, limit: int) -> list[tuple[int, float]]:
        """(content id, BM25 score) best first, at most `limit`."""
        q = self.query(parsed)
        if q is None or limit < 1:
            return []
        searcher = self._index.searcher()
        hits = searcher.search(q, limit, count=False).hits
        if not hits:
            return []
        ids = searcher.fast_field_values("id", [addr for _, addr in hits])
        return [(int(i), float(s)) for (s, _), i in zip(hits, ids)]

    def idf(self, parsed: ParsedQuery) -> dict[str, float]:
        """BM25's IDF of each query term over the documents (a term no document holds: the highest)."""
        searcher = self._index.searcher()
        n = searcher.num_docs
        out = {}
        for t in parsed.all_terms():
            df = searcher.doc_freq(ALL, t)
            out[t] = math.log(1.0 + (n - df + 0.5) / (df + 0.5))
        return out

    def matching_ids(self, parsed: ParsedQuery) -> set[int] | None:
        """Ids of every document holding all the query's phrases (None when it has none)."""
        if not parsed.phrases:
            return None
        only = ParsedQuery(phrases=parsed.phrases)
        return {i for i, _ in self.search(only, max(1, len(self)))}
