"""A filter string can only filter: legitimate filters select the rows a Python reference selects
(on both evaluation paths), and a corpus of hostile ones is refused with a one-line QueryError,
leaving no file behind."""
from __future__ import annotations

import threading
import time
from datetime import date, datetime, timezone

import duckdb
import numpy as np
import pyarrow as pa
import pytest

from vsearch.errors import QueryError
from vsearch.filters import Filter
from vsearch.store.metadata_filter import MAX_CHARS, MIN_ROWS_FOR_VALUES, MetadataFilter, locked_down_connection

SCHEMA = pa.schema([("path", pa.string()), ("folder", pa.string()), ("bytes", pa.int64()), ("width", pa.int32()),
                    ("height", pa.int32()), ("taken_at", pa.timestamp("s")), ("camera", pa.string()),
                    ("mtime", pa.timestamp("us", tz="UTC"))])
CANON, NIKON = "Canon EOS 5D", "NIKON D750"
ROWS = [  # path, folder, bytes, width, height, taken_at, camera
    ("trips/beach.jpg", "trips", 2_000_000, 4000, 3000, datetime(2021, 6, 1, 12), CANON),
    ("trips/park.png", "trips", 500_000, 100, 80, datetime(2022, 2, 1), NIKON),
    ("trips/2019/old.jpg", "trips/2019", 1_500_000, 640, 480, datetime(2019, 7, 4), CANON),
    ("it's mine/snow.jpg", "it's mine", 800_000, 90, 120, datetime(2020, 1, 15), NIKON),
    ("blue_circle.png", ".", 3000, 96, 96, None, None),
    ("red_square.jpg", ".", 2500, 80, 80, None, None),
    ("étoile/ünïcødé.jpg", "étoile", 12_000, 50, 50, datetime(2019, 12, 31, 23, 59, 59), CANON),
    ("trips-old/x.jpeg", "trips-old", 7000, 300, 200, datetime(2020, 1, 1), "iPhone 12"),
    ("a%b/_under.jpg", "a%b", 100, 10, 10, datetime(2023, 3, 3), "50% off"),
    ("emoji 📷/cam.heic", "emoji 📷", 5000, 200, 100, datetime(2024, 1, 1), "Pixel 7"),
    ("deep/x/y/z.jpg", "deep/x/y", 4096, 4096, 4096, datetime(2021, 1, 1), None),
    ("quote'd/\"dq\".jpg", "quote'd", 1, 1, 1, None, "O'Brien Cam"),
]
RECORDS = [dict(zip(SCHEMA.names, r + (datetime(2024, 5, 1, tzinfo=timezone.utc),))) for r in ROWS]
TILES = -(-MIN_ROWS_FOR_VALUES // len(ROWS)) + 1  # enough copies for the per-distinct-value path


def _taken(r: dict, lo: datetime | None = None, hi: datetime | None = None) -> bool:
    t = r["taken_at"]
    return t is not None and (lo is None or t >= lo) and (hi is None or t < hi)


# (filter, Python reference over a row dict)
LEGIT = [
    ("taken_at >= '2020-01-01' AND folder LIKE '%trips%'", lambda r: _taken(r, datetime(2020, 1, 1)) and "trips" in r["folder"]),
    ("width >= 90 AND path LIKE '%.png'", lambda r: r["width"] >= 90 and r["path"].endswith(".png")),
    ("folder = 'trips'", lambda r: r["folder"] == "trips"),
    (f"camera = '{CANON}'", lambda r: r["camera"] == CANON),
    (f"camera IN ('{CANON}', '{NIKON}')", lambda r: r["camera"] in (CANON, NIKON)),
    ("camera IS NULL", lambda r: r["camera"] is None),
    ("folder = 'it''s mine'", lambda r: r["folder"] == "it's mine"),
    ("folder LIKE 'a\\%b' ESCAPE '\\'", lambda r: r["folder"] == "a%b"),
    ("camera LIKE '%!%%' ESCAPE '!'", lambda r: r["camera"] is not None and "%" in r["camera"]),
    ("starts_with(folder, 'trips/')", lambda r: r["folder"].startswith("trips/")),
    ("NOT (folder = 'trips') AND bytes BETWEEN 1000 AND 5000", lambda r: r["folder"] != "trips" and 1000 <= r["bytes"] <= 5000),
    ("lower(camera) LIKE '%canon%'", lambda r: r["camera"] is not None and "canon" in r["camera"].lower()),
    ("year(taken_at) = 2021", lambda r: _taken(r) and r["taken_at"].year == 2021),
    ("regexp_matches(path, '\\.jpe?g$')", lambda r: r["path"].endswith((".jpg", ".jpeg"))),
    ("path GLOB '*.png'", lambda r: r["path"].endswith(".png")),
    ("path ILIKE '%.PNG'", lambda r: r["path"].lower().endswith(".png")),
    ("CASE WHEN width > height THEN 'landscape' WHEN width < height THEN 'portrait' ELSE 'square' END = 'square'",
     lambda r: r["width"] == r["height"]),
    ("bytes / 1024.0 > 1.5 AND bytes < 1e6", lambda r: 1536 < r["bytes"] < 1_000_000),
    ("taken_at < TIMESTAMP '2020-01-01 00:00:01'", lambda r: _taken(r, hi=datetime(2020, 1, 1, 0, 0, 1))),
    ("strlen(folder) > 8", lambda r: len(r["folder"].encode()) > 8),
    ("taken_at IS NULL OR camera IS NULL", lambda r: r["taken_at"] is None or r["camera"] is None),
    ("contains(path, '/') AND NOT ends_with(path, '.jpg')", lambda r: "/" in r["path"] and not r["path"].endswith(".jpg")),
    ("date_trunc('year', taken_at) = DATE '2020-01-01'", lambda r: _taken(r) and r["taken_at"].year == 2020),
    ("EXTRACT(month FROM taken_at) IN (1, 12)", lambda r: _taken(r) and r["taken_at"].month in (1, 12)),
    ("coalesce(camera, 'none') = 'none'", lambda r: r["camera"] is None),
    ("CAST(width AS VARCHAR) || 'x' || CAST(height AS VARCHAR) = '96x96'", lambda r: (r["width"], r["height"]) == (96, 96)),
    ("mtime >= TIMESTAMPTZ '2024-05-01 00:00:00+00' AND main.lower(folder) = folder",
     lambda r: r["folder"].lower() == r["folder"]),
    ("images.folder = '.' AND \"width\" < 90", lambda r: r["folder"] == "." and r["width"] < 90),
    ("folder = 'emoji 📷' OR folder = 'étoile'", lambda r: r["folder"] in ("emoji 📷", "étoile")),
    ("regexp_matches(path, '^(a+)+$')", lambda r: False),  # RE2 runs this in linear time; it just matches nothing
    ("TRUE", lambda r: True),
    ("1 = 0", lambda r: False),
]
FILTERS = [
    (Filter(folders=("trips",)), lambda r: r["folder"] == "trips" or r["folder"].startswith("trips/")),
    (Filter(folders=(".",)), lambda r: r["folder"] == "."),
    (Filter(folders=("it's mine", "a%b")), lambda r: r["folder"] in ("it's mine", "a%b")),
    (Filter(cameras=(CANON, "O'Brien Cam")), lambda r: r["camera"] in (CANON, "O'Brien Cam")),
    (Filter(taken_from=date(2020, 1, 1), taken_to=date(2021, 12, 31)),
     lambda r: _taken(r, datetime(2020, 1, 1), datetime(2022, 1, 1))),
    (Filter(min_bytes=1000, max_bytes=10_000), lambda r: 1000 <= r["bytes"] <= 10_000),
    (Filter(folders=("trips",), cameras=(NIKON,), taken_to=date(2022, 12, 31)),
     lambda r: r["folder"].startswith("trips") and r["folder"] != "trips-old" and r["camera"] == NIKON and _taken(r, hi=datetime(2023, 1, 1))),
]


def _table(tiles: int = 1) -> pa.Table:
    return pa.Table.from_pylist(RECORDS * tiles, schema=SCHEMA)


def _expected(reference, tiles: int = 1) -> np.ndarray:
    return np.array([i for i, r in enumerate(RECORDS * tiles) if reference(r)], dtype=np.int64)


@pytest.fixture(scope="module")
def small() -> MetadataFilter:
    return MetadataFilter(_table())


@pytest.fixture(scope="module")
def tiled() -> MetadataFilter:
    return MetadataFilter(_table(TILES))


@pytest.mark.parametrize("where,reference", LEGIT + FILTERS, ids=[str(w)[:60] for w, _ in LEGIT + FILTERS])
def test_legitimate_filters_select_the_reference_rows(small, tiled, where, reference):
    rows = small.rows(where)
    assert rows.dtype == np.int64
    assert rows.tolist() == _expected(reference).tolist()
    assert tiled.rows(where).tolist() == _expected(reference, TILES).tolist()


@pytest.mark.parametrize("flt", [f for f, _ in FILTERS], ids=[str(f)[:60] for f, _ in FILTERS])
def test_a_filter_and_its_where_string_select_the_same_rows(small, flt):
    assert small.rows(flt.sql()).tolist() == small.rows(flt).tolist()


def test_single_column_filters_take_the_per_value_path_and_agree_with_a_scan(tiled):
    # `_plan` is private; this checks that the test above really exercised both evaluation paths.
    assert tiled._plan("folder = 'trips'").column == "folder"
    assert tiled._plan("folder = 'trips' AND width > 1").column is None
    assert tiled._plan("width > 90").column is None  # not a text column
    many = MetadataFilter(pa.table({"path": [f"p{i}" for i in range(MIN_ROWS_FOR_VALUES * 2)]}))
    assert many._plan("path LIKE 'p1%'").column is None  # every value distinct: a scan is as fast
    scan = tiled.rows("folder LIKE '%trips%' AND width > -1")
    assert scan.tolist() == tiled.rows("folder LIKE '%trips%'").tolist() and len(scan) == 4 * TILES


HOSTILE = [
    "1=1; COPY (SELECT 42) TO '{tmp}/x.csv'",
    "1=1; ATTACH '{tmp}/x.db' AS evil",
    "1=1; EXPORT DATABASE '{tmp}/export'",
    "1=1 /* harmless? */; COPY (SELECT 1) TO '{tmp}/y.csv'",
    "1=1 -- \n; COPY images TO '{tmp}/images.csv'",
    "read_text('{secret}') LIKE 's%'",
    "read_blob('{secret}') IS NOT NULL",
    "(SELECT count(*) FROM read_csv('{secret}')) > 0",
    "(SELECT count(*) FROM read_csv_auto('{secret}')) > 0",
    "EXISTS (SELECT * FROM read_json('{secret}'))",
    "EXISTS (SELECT * FROM read_json_auto('{secret}'))",
    "path IN (SELECT * FROM read_parquet('{tmp}/*.parquet'))",
    "EXISTS (SELECT * FROM parquet_scan('{tmp}/x.parquet'))",
    "EXISTS (SELECT * FROM glob('{tmp}/*'))",
    "EXISTS (SELECT * FROM sniff_csv('{secret}'))",
    "EXISTS (FROM '{secret}')",
    "1=1 UNION SELECT 1",
    "1=1 UNION ALL SELECT content FROM read_text('{secret}')",
    "path IN (SELECT path FROM images)",
    "1=1 ORDER BY path LIMIT 1",
    "1=1 GROUP BY path",
    "1=1; SET threads = 64",
    "1=1; SET enable_external_access = true",
    "1=1; PRAGMA memory_limit='100GB'",
    "1=1; INSTALL httpfs",
    "1=1; LOAD httpfs",
    "1=1; CREATE TABLE x AS SELECT 1",
    "1=1; DROP VIEW images",
    "1=1; DETACH memory",
    "CALL pragma_version()",
    "getenv('HOME') IS NOT NULL",
    "current_setting('memory_limit') = '1GB'",
    "EXISTS (SELECT * FROM duckdb_settings())",
    "version() = 'x'",
    "current_database() = 'memory'",
    "current_user = 'root'",
    "length(repeat('x', 1000000000000)) > 0",
    "lpad(path, 1000000000, 'x') = path",
    "printf('%1000000000d', 1) = path",
    "replace(replace(path, 'a', path), 'a', path) = path",
    "EXISTS (SELECT * FROM range(1000000000000))",
    "len(range(1000000000000)) > 0",
    "list_sum(generate_series(1, 1000000000)) > 0",
    "list_transform([1], x -> x) IS NOT NULL",
    "regexp_matches(path, path)",
    "path LIKE folder || '%'",
    "count(*) OVER () > 0",
    "sum(bytes) > 0",
    "random() < 2",
    "path.lower() = 'a'",
    "lower(path := 'A') = 'a'",
    "path::BLOB IS NOT NULL",
    "CAST(path AS mytype) IS NULL",
    "path[1] = 'a'",
    "{'a': 1} IS NOT NULL",
    "COLUMNS(*) IS NOT NULL",
    "#1 = 1",
    "path COLLATE nocase = 'a'",
    "query('SELECT 1') IS NOT NULL",
    "'" + "x" * 1_000_000 + "' = path",
    "NOT " * 1500 + "TRUE",
    "-(" * 2000 + "width" + ")" * 2000 + " = 1",
    "1" + " + 1" * 1500,
    "path = 'a'\x00; COPY (SELECT 1) TO '{tmp}/nul.csv'",
    "1=1\uff1b COPY (SELECT 42) TO '{tmp}/fullwidth.csv'",
    "ｒｅａｄ_text('{secret}') IS NOT NULL",
    "path = 'a' \u202e OR TRUE",
    "path = '\udce9'",
    "1=1) OR (1=1",
    "path = ?",
    "",
]


@pytest.mark.parametrize("template", HOSTILE, ids=[repr(h[:50]) for h in HOSTILE])
def test_hostile_filters_are_refused_with_no_side_effect(small, tmp_path, template):
    secret = tmp_path / "secret.txt"
    secret.write_text("s3cret")
    where = template.replace("{tmp}", str(tmp_path)).replace("{secret}", str(secret))
    with pytest.raises(QueryError) as e:
        small.rows(where)
    message = str(e.value)
    assert message.startswith("bad --where predicate:") and "Columns: path, folder" in message
    assert "\n" not in message and "s3cret" not in message
    assert sorted(p.name for p in tmp_path.iterdir()) == ["secret.txt"]
    assert small.rows("folder = 'trips'").tolist() == [0, 1]  # still works afterwards


def test_refusals_name_what_is_wrong(small):
    cases = {"read_text('x') = 'a'": "read_text", "no_such_column > 1": "no_such_column",
             "(SELECT 1) = 1": "subquery", "regexp_matches(path, folder)": "constant",
             "x" * (MAX_CHARS + 1): str(MAX_CHARS), "1=1; SELECT 1": "one expression",
             "-(" * 1100 + "width" + ")" * 1100 + " = 1": "nested too deeply"}
    for where, named in cases.items():
        with pytest.raises(QueryError, match=named):
            small.rows(where)


def test_the_connection_itself_refuses_files_settings_and_extensions(tmp_path):
    con = locked_down_connection()
    secret = tmp_path / "secret.txt"
    secret.write_text("s3cret")
    for statement in [f"COPY (SELECT 42) TO '{tmp_path}/x.csv'", f"ATTACH '{tmp_path}/x.db'",
                      f"SELECT * FROM read_text('{secret}')", f"SELECT * FROM glob('{tmp_path}/*')",
                      "SET threads = 64", "SET enable_external_access = true", "SET memory_limit = '100GB'",
                      "INSTALL httpfs", "LOAD httpfs", f"EXPORT DATABASE '{tmp_path}/export'"]:
        with pytest.raises(duckdb.Error):
            con.execute(statement).fetchall()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["secret.txt"]
    settings = dict(con.execute("SELECT name, value FROM duckdb_settings() WHERE name IN "
                                "('threads', 'enable_external_access', 'temp_directory', 'lock_configuration')").fetchall())
    assert settings == {"threads": "2", "enable_external_access": "false", "temp_directory": "", "lock_configuration": "true"}
    limit = con.execute("SELECT current_setting('memory_limit')").fetchall()[0][0]
    assert limit.endswith("MiB") and float(limit.split()[0]) <= 256


def test_a_slow_filter_is_stopped_by_the_timeout_and_the_next_one_runs():
    n = 50_000
    images = pa.table({"path": [f"folder{i % 1000}/photo_{i}_with_a_longish_name.jpg" for i in range(n)]})
    slow = " OR ".join(f"regexp_matches(lower(path), '[a-z]+{i}[0-9]*x')" for i in range(150))  # seconds
    f = MetadataFilter(images, timeout_s=0.05)
    start = time.perf_counter()
    with pytest.raises(QueryError, match="took longer than 0.05 s"):
        f.rows(slow)
    assert time.perf_counter() - start < 2
    time.sleep(0.1)  # a timer that fired late must not have interrupted this one
    assert f.rows("path LIKE 'folder1/%'").tolist() == list(range(1, n, 1000))


def test_concurrent_callers_each_get_their_own_rows():
    f = MetadataFilter(_table(TILES))
    wheres = [w for w, _ in LEGIT[:8]] + [flt for flt, _ in FILTERS[:4]]
    expected = {i: _expected(ref, TILES).tolist() for i, (_, ref) in enumerate(LEGIT[:8] + FILTERS[:4])}
    errors: list[str] = []

    def work(offset: int) -> None:
        for k in range(24):
            i = (offset + k) % len(wheres)
            if f.rows(wheres[i]).tolist() != expected[i]:
                errors.append(str(wheres[i]))

    threads = [threading.Thread(target=work, args=(o,)) for o in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
