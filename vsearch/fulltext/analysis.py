"""What the keyword index reads: its fields (each with a boost), how text becomes terms, and how a
user's query becomes terms, required phrases and prefixes.

One analyzer does both sides (Tantivy's own, run from Python for the query): words split on
anything not a letter or digit, lower-cased, accents folded (café = cafe), English stop words
dropped, Snowball-stemmed (dogs = dog, running = run), over-long tokens dropped.

A query is data, never query syntax: `"…"` marks a phrase that every hit must hold (in one field),
a word ending in `*` is a prefix (at least 2 characters before it), everything else is a term
ranked by BM25. Nothing else in the text has a meaning; its size is bounded (MAX_QUERY_CHARS,
MAX_TERMS, MAX_PHRASES).
"""
from __future__ import annotations

import re
from dataclasses import dataclass, field
from functools import lru_cache

import tantivy

ANALYZER = "vsearch_en"
# field -> boost. A title, a keyword or a person's or place's name is stronger evidence than one
# word of a long description, OCR'd text or a folder name.
FIELDS: dict[str, float] = {
    "title": 2.0, "description": 1.0, "keywords": 1.5, "people": 2.0, "places": 1.5,
    "folder": 1.0, "filename": 1.5, "ocr": 1.0,
}
DESCRIBED = ("title", "description", "keywords")  # a photo with one of these was described by its owner
MAX_QUERY_CHARS = 1_000
MAX_TERMS = 32
MAX_PHRASES = 8
MIN_PREFIX = 2
_PHRASE = re.compile(r'"([^"]*)"')


@lru_cache(maxsize=1)
def analyzer() -> tantivy.TextAnalyzer:
    return (tantivy.TextAnalyzerBuilder(tantivy.Tokenizer.simple())
            .filter(tantivy.Filter.remove_long(40))
            .filter(tantivy.Filter.lowercase())
            .filter(tantivy.Filter.ascii_fold())
            .filter(tantivy.Filter.stopword("english"))
            .filter(tantivy.Filter.stemmer("english"))
            .build())


def terms(text: str) -> list[str]:
    """The index terms of a text, in order (repeats kept)."""
    return analyzer().analyze(text) if text else []


@dataclass(frozen=True)
class ParsedQuery:
    terms: tuple[str, ...] = ()                  # ranked by BM25, any may match
    phrases: tuple[tuple[str, ...], ...] = ()    # each must match, as a phrase, in one field
    prefixes: tuple[str, ...] = ()               # lower-cased, accent-folded prefixes (not stemmed)
    text: str = field(default="", compare=False)

    def is_empty(self) -> bool:
        return not (self.terms or self.phrases or self.prefixes)

    def all_terms(self) -> set[str]:
        return set(self.terms) | {t for p in self.phrases for t in p}


def _fold(word: str) -> str:
    folded = tantivy.TextAnalyzerBuilder(tantivy.Tokenizer.raw()).filter(tantivy.Filter.lowercase()) \
        .filter(tantivy.Filter.ascii_fold()).build().analyze(word)
    return folded[0] if folded else ""


def parse_query(text: str) -> ParsedQuery:
    """Terms, required phrases and prefixes of a query text (an unpaired quote is ignored)."""
    text = (text or "")[:MAX_QUERY_CHARS]
    phrases = []
    for raw in _PHRASE.findall(text)[:MAX_PHRASES]:
        words = tuple(terms(raw))
        if words:
            phrases.append(words)
    rest = _PHRASE.sub(" ", text).replace('"', " ")
    prefixes, plain = [], []
    for word in rest.split():
        if word.endswith("*"):
            stem = _fold(re.sub(r"\W+$", "", word))
            if len(stem) >= MIN_PREFIX and re.fullmatch(r"\w+", stem):
                prefixes.append(stem)
                continue
        plain.append(word)
    found = list(dict.fromkeys(terms(" ".join(plain))))[:MAX_TERMS]
    return ParsedQuery(tuple(found), tuple(phrases), tuple(dict.fromkeys(prefixes))[:MAX_TERMS], text)


def matched(parsed: ParsedQuery, words: dict[str, str]) -> list[dict]:
    """Why a photo matched: for each field of its `words` that holds query terms (or a phrase, or a
    word starting with a prefix), the field and those terms, in FIELDS order."""
    wanted = parsed.all_terms()
    out = []
    for name in FIELDS:
        value = words.get(name)
        if not value:
            continue
        have = terms(value)
        hit = sorted(wanted & set(have))
        raw = {_fold(w) for w in re.findall(r"\w+", value)} if parsed.prefixes else set()
        hit += sorted({p + "*" for p in parsed.prefixes if any(w.startswith(p) for w in raw)})
        if hit:
            out.append({"field": name, "terms": hit})
    return out


def documents(rows) -> dict[int, dict[str, str]]:
    """One document per content id from per-file word rows (dicts with `id` and the FIELDS): the
    files of one content (copies, each with its own name and sidecar) have their words joined."""
    docs: dict[int, dict[str, str]] = {}
    for row in rows:
        old = docs.get(row["id"])
        words = {f: row.get(f) or "" for f in FIELDS}
        if old is None:
            docs[row["id"]] = words
        else:
            for f, v in words.items():
                if v and v not in old[f]:
                    old[f] = f"{old[f]} {v}" if old[f] else v
    return docs


def is_described(words: dict[str, str]) -> bool:
    return any(words.get(f) for f in DESCRIBED)


def coverage(parsed: ParsedQuery, words: dict[str, str], idf: dict[str, float]) -> float:
    """The share of the query's words a photo's words hold (0 to 1), each word weighted by its IDF
    (`idf`: term -> weight; a prefix weighs the mean of the terms', or 1)."""
    wanted = parsed.all_terms()
    if not wanted and not parsed.prefixes:
        return 0.0
    text = " ".join(v for v in words.values() if v)
    have = set(terms(text))
    weights = {t: idf.get(t, 1.0) for t in wanted}
    prefix_weight = (sum(weights.values()) / len(weights)) if weights else 1.0
    total = sum(weights.values()) + prefix_weight * len(parsed.prefixes)
    got = sum(w for t, w in weights.items() if t in have)
    if parsed.prefixes:
        raw = {_fold(w) for w in re.findall(r"\w+", text)}
        got += prefix_weight * sum(any(w.startswith(p) for w in raw) for p in parsed.prefixes)
    return got / total if total else 0.0
