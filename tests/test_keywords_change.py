"""Which contents the keyword step re-indexes between two generations (pipeline/derived/keywords.py
`_touched`): rows compared by a hash of their file, content and words, not by joining strings."""
from __future__ import annotations

from vsearch.pipeline.derived.keywords import _touched
from vsearch.store.tables import images_table


def table(rows: list[dict]):
    return images_table({k: [r.get(k) for r in rows] for k in ("id", "root", "path", "title", "keywords", "ocr",
                                                                "sidecar")})


BASE = [{"id": 1, "root": "/r", "path": "a.jpg", "title": "sea", "keywords": ["beach"]},
        {"id": 2, "root": "/r", "path": "b.jpg"},
        {"id": 3, "root": "/r", "path": "c.jpg", "ocr": None},
        {"id": 4, "root": "/r", "path": "d.jpg", "sidecar": None}]


def test_the_same_rows_in_another_order_touch_nothing():
    assert _touched(table(BASE), table(BASE[::-1])).to_pylist() == []


def test_each_kind_of_change_touches_its_content():
    now = [dict(r) for r in BASE]
    now[0]["keywords"] = ["beach", "dog"]        # a word
    now[1]["path"] = "moved/b.jpg"               # the file moved
    now[2]["ocr"] = ""                           # looked at by OCR now: read, no text (null was never read)
    now[3]["sidecar"] = {"mtime_ns": 1, "title": "t", "description": None, "keywords": None, "people": None,
                         "places": None}         # a sidecar appeared
    now.append({"id": 9, "root": "/r", "path": "new.jpg"})
    assert _touched(table(now), table(BASE)).to_pylist() == [1, 2, 3, 4, 9]
    assert _touched(table(BASE[:2]), table(BASE)).to_pylist() == [3, 4]  # removed rows
