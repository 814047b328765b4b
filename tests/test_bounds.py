"""Counts and sizes from a user are bounded by what they really are (issue 20, defect 2): k by the
collection's size with a sane maximum (vsearch/limits.py), and likewise rerank depths, batch sizes,
worker counts, thumbnail sizes and query vectors. A huge or non-integer value is a one-line error,
never an allocation of what it claims."""
from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

import vsearch
from vsearch.cli import app
from vsearch.errors import QueryError

MAX_RESULTS = 100_000  # vsearch/limits.py (imported inside the tests, so this file runs on any vsearch)

HERE = Path(__file__).resolve().parent
runner = CliRunner()


@pytest.mark.parametrize("k", ["2000000000", "100000000000", "99999999999999999999"])
def test_a_huge_k_on_the_command_line_is_one_line_not_an_allocation(ingested, k):
    """Run under an address-space limit of 1 GiB past the imports: a k that allocated what it
    claims (16 GB for 2e9) would fail with 'out of memory' instead of this message."""
    home, _ = ingested
    r = subprocess.run([sys.executable, str(HERE / "run_limited.py"), str(1 << 30), "query", "a red square",
                        "-k", k, "--home", str(home)], capture_output=True, text=True, timeout=300,
                       env={**os.environ, "PYTHONPATH": os.pathsep.join([str(HERE.parent), os.environ.get("PYTHONPATH", "")])})
    assert r.returncode == 2, r.stderr
    assert r.stderr.strip().splitlines() == [f"error: k must be a whole number from 1 to {MAX_RESULTS} (got {k})"]


@pytest.mark.parametrize("k", [10**11, 10**20, 2.5, "3", True, np.float32(4)])
def test_the_python_api_refuses_a_k_that_is_not_a_sane_whole_number(ingested, k):
    col = vsearch.open_collection(home=ingested[0])
    with pytest.raises(QueryError, match="k must be a whole number"):
        col.search("a red square", k=k)
    with pytest.raises(QueryError, match="k must be a whole number"):
        col.search_vector(np.ones(256, np.float32) / 16, k=k)


def test_k_past_the_collection_is_cut_to_what_it_holds(ingested):
    from vsearch import limits

    assert limits.MAX_RESULTS == MAX_RESULTS
    col = vsearch.open_collection(home=ingested[0])
    everything = col.search("a red square", k=MAX_RESULTS)
    assert len(everything) == len(set(col.images.column("id").to_pylist())) == len({h.id for h in everything})
    assert [h.id for h in col.search("a red square", k=np.int64(3))] == [h.id for h in everything[:3]]


@pytest.mark.parametrize("vector", [np.ones(3), np.ones((2, 256)), [np.nan] * 256, "abc"])
def test_a_query_vector_must_be_the_collections_width_and_finite(ingested, vector):
    col = vsearch.open_collection(home=ingested[0])
    with pytest.raises(QueryError, match="query vector"):
        col.search(vector=vector, k=3)


def test_rerank_depths_and_texts_are_bounded_too(ingested_copy):
    home, _ = ingested_copy
    vsearch.add_texts(["a red square", "a blue circle"], "photos", home)
    col = vsearch.open_collection(home=home)
    with pytest.raises(QueryError, match="rerank-k must be a whole number"):
        col.search("a red square", k=5, rerank=True, rerank_k=10**9)
    with pytest.raises(QueryError, match="k must be a whole number"):
        col.search_texts(like=col.search("a red square", k=1)[0].id, k=10**12)
    assert len(col.search_texts(like=col.search("a red square", k=1)[0].id, k=50)) == 2  # cut to the corpus


def test_a_thumbnail_size_is_bounded(ingested):
    col = vsearch.open_collection(home=ingested[0])
    hit = col.search("a red square", k=1)[0]
    for size in (10**6, 0, 12.5):
        with pytest.raises(QueryError, match="thumbnail size"):
            col.thumbnail(hit.id, size)
    assert col.thumbnail(hit.id, 64).is_file()


@pytest.mark.parametrize("args, says", [
    (["--batch-size", "1000000000"], "--batch-size must be a whole number from 1 to"),
    (["--workers", "1000000"], "--workers must be a whole number from 0 to"),
])
def test_ingest_counts_are_bounded_before_any_work(tmp_path, args, says):
    (tmp_path / "photos").mkdir()  # empty: no worker is started whatever --workers says
    r = runner.invoke(app, ["ingest", str(tmp_path / "photos"), "--home", str(tmp_path / "h"), *args])
    assert r.exit_code == 2 and says in r.output and r.output.count("\n") == 1, r.output
    assert not (tmp_path / "h").exists()


def test_eval_depths_are_bounded_before_any_work(tmp_path):
    from vsearch.errors import VsearchError

    with pytest.raises(VsearchError, match="--sweep must be a whole number"):
        vsearch.evaluate_benchmark(tmp_path / "no-benchmark", sweep=(0, 10**11))
