"""Readers and writers at the same time: a reader keeps the generation it opened however many
commits follow (store/collection.py pins it), a loop of queries in another process never fails
during a stream of commits, old generations go once no reader holds them, and two writers never
interleave (the lock)."""
from __future__ import annotations

import json
import os
import random
import subprocess
import sys
import time
from pathlib import Path

import pytest
from typer.testing import CliRunner

from collection_state import debris
from vsearch.cli import app
from vsearch.store.collection import CollectionStore

HERE = Path(__file__).resolve().parent
STREAM_S = 5.0  # seconds of commits while the other process queries

READER = r"""
import json, random, sys, time
import vsearch

import os
home, seconds, like, stop = sys.argv[1], float(sys.argv[2]), int(sys.argv[3]), sys.argv[4]
rng = random.Random(0)
held = vsearch.open_collection("photos", home=home)   # opened now, first searched after every commit
until, cap = time.time() + seconds, time.time() + 120
done, fails = 0, []
print("ready", flush=True)
# at least `seconds` and 5 rounds (a loaded machine is slower), and until the writer has done its commits
while time.time() < cap and (time.time() < until or done < 5 or not os.path.exists(stop)):
    try:
        col = vsearch.open_collection("photos", home=home)
        time.sleep(rng.random() * 0.03)           # commits happen between opening and searching
        assert col.search("a red square", k=3)
        assert col.search(like=like, k=3)
        if rng.random() < 0.3:
            col.reload()
            assert col.search("a blue circle", k=3, where="bytes > 0")
        col.close()
        done += 1
    except Exception as e:
        fails.append(f"{type(e).__name__}: {e}")
try:
    hits = held.search("a red square", k=3)        # its generation was committed many commits ago
    held_ok = len(hits) == 3 and held.store.manifest.generation < vsearch.open_collection("photos", home=home).store.manifest.generation
except Exception as e:
    held_ok = f"{type(e).__name__}: {e}"
print(json.dumps({"done": done, "fails": fails, "held": held_ok}), flush=True)
"""


def recommit(store: CollectionStore) -> int:
    """One commit that rewrites every part of the collection under a new generation (what an ingest's
    commit writes), under the writer lock."""
    with store.lock():
        store.refresh()
        m = store.manifest
        store.commit(m, images=store.images(), errors=store.errors(), index=store.index(),
                     image_bias=store.read_table("image_bias"))
        return m.generation


def test_a_reader_keeps_its_generation_through_many_commits(ingested_copy):
    import vsearch

    home, photos = ingested_copy
    store = CollectionStore(home / "photos")
    col = vsearch.open_collection("photos", home=home)  # nothing loaded yet but the images table
    opened, index = col.store.manifest.generation, home / "photos" / col.store.manifest.files["index"]
    for _ in range(4):
        recommit(store)
    assert index.exists()  # kept while the reader holds its generation
    hits = col.search("a red square", k=3)  # loads the index of the generation it opened
    assert len(hits) == 3 and col.store.manifest.generation == opened
    # let it go: the next commit removes that generation, as nothing holds it any more
    col.close()
    recommit(store)
    assert not index.exists()
    assert debris(home / "photos") == []


def test_without_a_reader_old_generations_go(ingested_copy):
    home, photos = ingested_copy
    store = CollectionStore(home / "photos")
    for _ in range(5):
        gen = recommit(store)
    names = {p.name for p in (home / "photos").iterdir()}
    gens = {int(n.split("-")[-1].split(".")[0]) for n in names if n.startswith(("images-", "index-", "readers-"))}
    assert gens == {gen - 1, gen} and debris(home / "photos") == []


def test_queries_in_another_process_never_fail_during_a_stream_of_commits(ingested_copy):
    import vsearch

    home, photos = ingested_copy
    with vsearch.open_collection("photos", home=home) as col:
        like = col.search("a red square", k=1)[0].id
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([str(HERE.parent), os.environ.get("PYTHONPATH", "")]))
    stop = home / "writer-done"
    reader = subprocess.Popen([sys.executable, "-c", READER, str(home), str(STREAM_S), str(like), str(stop)], env=env,
                              text=True, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    assert reader.stdout.readline().strip() == "ready", reader.stderr.read()
    store = CollectionStore(home / "photos")
    rng = random.Random(1)
    commits = 0
    deadline = time.time() + STREAM_S
    while (time.time() < deadline or commits < 20) and reader.poll() is None:
        recommit(store)
        commits += 1
        time.sleep(rng.random() * 0.02)
    stop.touch()  # the reader ends once it has also done its rounds; commits go on until it does
    while reader.poll() is None:
        recommit(store)
        commits += 1
        time.sleep(rng.random() * 0.02)
    out, err = reader.communicate(timeout=120)
    result = json.loads(out.strip().splitlines()[-1])
    assert result["fails"] == [] and result["done"] >= 5 and result["held"] is True, (result, err[-2000:])
    assert commits >= 20
    recommit(store)  # no reader now: what they held goes
    assert debris(home / "photos") == []


@pytest.mark.parametrize("command", [["ingest", "{photos}"], ["reindex"], ["texts", "add", "{corpus}"]])
def test_two_writers_never_interleave(ingested_copy, tmp_path, command):
    home, photos = ingested_copy
    corpus = tmp_path / "corpus.txt"
    corpus.write_text("a red square\n")
    args = [a.format(photos=photos, corpus=corpus) for a in command]
    store = CollectionStore(home / "photos")
    before = (home / "photos" / "manifest.json").read_bytes()
    with store.lock():  # a writer at work
        r = CliRunner().invoke(app, args, env={"VSEARCH_HOME": str(home)})
        assert r.exit_code == 2 and r.output.count("\n") == 1, r.output
        assert "another vsearch process is writing" in r.output
        assert (home / "photos" / "manifest.json").read_bytes() == before
        # readers are not blocked by a writer
        assert CliRunner().invoke(app, ["query", "a red square"], env={"VSEARCH_HOME": str(home)}).exit_code == 0
    assert CliRunner().invoke(app, args, env={"VSEARCH_HOME": str(home)}).exit_code == 0


def test_the_lock_holds_across_processes(ingested_copy):
    home, photos = ingested_copy
    env = dict(os.environ, VSEARCH_HOME=str(home), PYTHONPATH=os.pathsep.join([str(HERE.parent), os.environ.get("PYTHONPATH", "")]))
    with CollectionStore(home / "photos").lock():
        r = subprocess.run([sys.executable, "-m", "vsearch.cli", "ingest", str(photos)], env=env, capture_output=True,
                           text=True, timeout=300)
    assert r.returncode == 2 and "another vsearch process is writing" in r.stderr and "Traceback" not in r.stderr
