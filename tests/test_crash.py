"""Crashes and I/O errors at every write of an ingest (SQLite's crash tests; faiss contrib's crash_at):

- kill -9 just before each write of a commit is renamed into place (vsearch.atomic.crash_points, in
  a subprocess: tests/crash_runner.py), at vector shards, and at random moments;
- disk full (ENOSPC) and permission denied (EACCES) raised at each write.

After each: the collection is the previous generation (or, with none, there is none), queries on it
work, the error was one line (exit 2, no traceback); after the next writer ran, the collection equals
a clean run's and no debris is left. The full matrix is `pytest -m slow`; a few cases run by default.
"""
from __future__ import annotations

import os
import random
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from typer.testing import CliRunner

from collection_state import debris, differences, snapshot
from conftest import make_image
from crash_runner import arm
from derived_probe import registered, steps

HERE = Path(__file__).resolve().parent
# Every write of an ingest's commit: the tables it records, each derived part of the images (every
# entry of the step list, the test probe among them), the readers' list, the manifest.
COMMIT_POINTS = (["commit:images", "commit:errors"] + [f"commit:{s.key}" for s in steps() if s.subject == "images"]
                 + ["commit:readers", "manifest"])
BATCH = "2"  # small batches: many shards, many points to crash at


def run_sub(home: Path, point: str, nth: int, fault: str, *args) -> subprocess.CompletedProcess:
    env = dict(os.environ, VSEARCH_HOME=str(home), PYTHONPATH=os.pathsep.join([str(HERE.parent), os.environ.get("PYTHONPATH", "")]))
    return subprocess.run([sys.executable, str(HERE / "crash_runner.py"), point, str(nth), fault, *map(str, args)],
                          env=env, capture_output=True, text=True, timeout=600)


def run_in(home: Path, *args, fault: tuple[str, int, str] | None = None):
    """The CLI in this process (faster than a subprocess); `fault`: (point, nth, kind) to inject."""
    from vsearch import atomic

    if fault:
        arm(*fault)
    try:
        return CliRunner().invoke(__import__("vsearch.cli", fromlist=["app"]).app, [str(a) for a in args],
                                  env={"VSEARCH_HOME": str(home)})
    finally:
        atomic.crash_points.clear()


def restore(src: Path, dst: Path) -> Path:
    """dst made a copy of src, modification times included (an ingest sees unchanged files)."""
    if dst.exists():
        shutil.rmtree(dst)
    shutil.copytree(src, dst, symlinks=True)
    return dst


def small_photos(root: Path) -> Path:
    """Eight photos (one in a sub-folder, one duplicate) and two unreadable files: quick to encode."""
    for i, (color, shape) in enumerate([(c, s) for s in ("square", "circle") for c in ("red", "green", "blue", "yellow")]):
        make_image(root / ("trips" if i % 3 == 0 else "") / f"{color}_{shape}.{('jpg', 'png', 'webp')[i % 3]}", color, shape)
    shutil.copy(root / "trips" / "red_square.jpg", root / "red_copy.jpg")
    (root / "bad").mkdir()
    (root / "bad" / "not_an_image.jpg").write_text("hello, I am text")
    (root / "bad" / "empty.png").write_bytes(b"")
    return root


class World:
    """Fixed paths (rows store their root): the photos before (v1) and after (v2) a change, the
    collection after ingesting v1, and clean results of ingesting v1 then v2."""

    def __init__(self, base: Path):
        self.base = base
        self.v1 = small_photos(base / "v1")
        self.v2 = restore(self.v1, base / "v2")
        make_image(self.v2 / "new" / "a.png", "yellow", "circle")
        make_image(self.v2 / "new" / "b.jpg", "green", "circle", size=(90, 90))
        make_image(self.v2 / "trips" / "red_square.jpg", "blue", "square", size=(70, 70))  # changed
        (self.v2 / "green_square.png").unlink()
        self.photos = base / "photos"
        self.home = base / "home"
        self.folder = self.home / "photos"
        restore(self.v1, self.photos)
        assert run_in(self.home, "ingest", self.photos, "--batch-size", BATCH).exit_code == 0
        self.clean_v1 = snapshot(self.folder)
        self.gen1 = base / "gen1"
        restore(self.home, self.gen1)
        restore(self.v2, self.photos)
        assert run_in(self.home, "ingest", self.photos, "--batch-size", BATCH).exit_code == 0
        self.clean_v2 = snapshot(self.folder)
        assert self.clean_v2["manifest"]["generation"] == 2 and len(list((self.folder / "vectors").iterdir())) >= 5

    @property
    def seconds(self) -> float:
        """How long a whole `vsearch ingest` of v1 takes in a subprocess (measured once)."""
        if not hasattr(self, "_seconds"):
            scratch = self.base / "timing"
            t = time.perf_counter()
            r = run_sub(scratch, "-", 0, "kill", "ingest", self.v1, "--batch-size", BATCH)
            self._seconds = time.perf_counter() - t
            assert r.returncode == 0, r.stderr
            shutil.rmtree(scratch)
        return self._seconds

    def first_ingest(self) -> None:
        """No collection yet; the photos as v1."""
        shutil.rmtree(self.home, ignore_errors=True)
        restore(self.v1, self.photos)

    def second_ingest(self) -> None:
        """The collection at generation 1; the photos changed to v2."""
        restore(self.gen1, self.home)
        restore(self.v2, self.photos)


@pytest.fixture(scope="module", autouse=True)
def probe():
    """The test's derived step among vsearch's, here as in crash_runner.py's processes."""
    with registered():
        yield


@pytest.fixture(scope="module")
def world(tmp_path_factory, probe) -> World:
    return World(tmp_path_factory.mktemp("crash"))


def queries_work(world: World) -> None:
    import vsearch

    col = vsearch.open_collection("photos", home=world.home)
    assert col.search("a red square", k=3)


def resumed_equals_clean(world: World, clean: dict, generation: bool = True) -> None:
    r = run_in(world.home, "ingest", world.photos, "--batch-size", BATCH)
    assert r.exit_code == 0, r.output
    assert differences(snapshot(world.folder), clean, generation) == []
    assert debris(world.folder) == []
    queries_work(world)


# --- kill -9 -------------------------------------------------------------------------------------
KILLS_FIRST = [("shard", 1), ("shard", 2), ("shard", 3)] + [(p, 1) for p in COMMIT_POINTS]
KILLS_SECOND = [("shard", 1)] + [(p, 1) for p in COMMIT_POINTS]
DEFAULT_KILLS = {("second", "commit:index"), ("first", "manifest")}  # the latter: an index folder of a first generation never committed


def _kill_cases():
    for which, kills in (("first", KILLS_FIRST), ("second", KILLS_SECOND)):
        for point, nth in kills:
            marks = () if (which, point) in DEFAULT_KILLS else pytest.mark.slow
            yield pytest.param(which, point, nth, marks=marks, id=f"{which}-{point}-{nth}")


@pytest.mark.parametrize("which, point, nth", list(_kill_cases()))
def test_kill_9_at_a_write_leaves_the_previous_generation_then_resumes_to_a_clean_run(world, which, point, nth):
    getattr(world, f"{which}_ingest")()
    before = snapshot(world.folder)
    r = run_sub(world.home, point, nth, "kill", "ingest", world.photos, "--batch-size", BATCH)
    assert r.returncode == -signal.SIGKILL, (r.returncode, r.stderr[-2000:])
    # the previous generation, or none (the shards it finished are kept: the resumed run skips them)
    assert [d for d in differences(snapshot(world.folder), before) if d != "stored"] == []
    if before is not None:
        queries_work(world)  # readable despite the debris of the killed writer
    resumed_equals_clean(world, world.clean_v1 if which == "first" else world.clean_v2)


RANDOM_KILLS = 6


@pytest.mark.slow
@pytest.mark.parametrize("seed", range(RANDOM_KILLS))
def test_kill_9_at_a_random_moment_then_resume_equals_a_clean_run(world, seed):
    """Anywhere in an ingest (model loading, decoding, encoding, between writes, after the commit)."""
    which = ("first", "second")[seed % 2]
    getattr(world, f"{which}_ingest")()
    before = snapshot(world.folder)
    clean = world.clean_v1 if which == "first" else world.clean_v2
    at = random.Random(seed).uniform(0.2, 1.0) * world.seconds
    env = dict(os.environ, VSEARCH_HOME=str(world.home), PYTHONPATH=os.pathsep.join([str(HERE.parent), os.environ.get("PYTHONPATH", "")]))
    p = subprocess.Popen([sys.executable, str(HERE / "crash_runner.py"), "-", "0", "kill", "ingest", str(world.photos),
                          "--batch-size", BATCH],
                         env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
    try:
        p.wait(timeout=at)
    except subprocess.TimeoutExpired:
        os.killpg(p.pid, signal.SIGKILL)  # the ingest and its decode workers
        p.wait()
    now = snapshot(world.folder)
    # killed before its commit (finished shards kept for the resumed run), or after it
    committed = differences(now, clean) == []
    assert committed or [d for d in differences(now, before) if d != "stored"] == []
    resumed_equals_clean(world, clean, generation=not committed)  # after the commit, the re-run commits again


# --- disk full, permission denied ---------------------------------------------------------------
IO_POINTS = ["shard"] + COMMIT_POINTS
DEFAULT_IO = {("enospc", "commit:index"), ("eacces", "shard")}
SAYS = {"enospc": ["disk full", "free some space", "--home"], "eacces": ["permission denied", "--home"]}


@pytest.mark.parametrize("fault, point", [pytest.param(f, p, marks=() if (f, p) in DEFAULT_IO else pytest.mark.slow)
                                          for f in ("enospc", "eacces") for p in IO_POINTS])
def test_an_io_error_at_a_write_is_one_line_and_changes_nothing(world, fault, point):
    world.second_ingest()
    before = snapshot(world.folder)
    r = run_in(world.home, "ingest", world.photos, "--batch-size", BATCH, fault=(point, 1, fault))
    assert r.exit_code == 2, (r.output, r.exception)
    assert r.output.startswith("error:") and r.output.count("\n") == 1 and "Traceback" not in r.output
    assert all(word in r.output for word in SAYS[fault]), r.output
    assert [d for d in differences(snapshot(world.folder), before) if d != "stored"] == []
    queries_work(world)
    resumed_equals_clean(world, world.clean_v2)


@pytest.mark.parametrize("command", [pytest.param(["reindex"], id="reindex"),
                                     pytest.param(["texts", "add", "{corpus}"], id="texts-add", marks=pytest.mark.slow)])
def test_other_writers_fail_as_one_line_and_change_nothing(world, command, tmp_path):
    world.second_ingest()
    corpus = tmp_path / "corpus.txt"
    corpus.write_text("a red square\na blue circle\n")
    args = [a.format(corpus=corpus) for a in command]
    before = snapshot(world.folder)
    r = run_in(world.home, *args, fault=("manifest", 1, "enospc"))
    assert r.exit_code == 2 and r.output.count("\n") == 1 and "disk full" in r.output, r.output
    assert differences(snapshot(world.folder), before) == []
    assert run_in(world.home, *args).exit_code == 0
    assert debris(world.folder) == []


def test_a_home_that_cannot_be_written_is_a_message(world, tmp_path):
    world.first_ingest()
    # /sys refuses new folders even to root (chmod would not stop root); a read-only home reads the same
    for home in ([Path("/sys/vsearch-test-home")] if Path("/sys").is_dir() else []) + [tmp_path / "file" / "home"]:
        (tmp_path / "file").write_text("a file where a folder should be")
        r = run_in(home, "ingest", world.photos)
        assert r.exit_code == 2 and r.output.count("\n") == 1 and "Traceback" not in r.output, r.output
        assert "cannot write" in r.output and "--home" in r.output, r.output
    r = run_in(world.home, "ingest", world.photos, fault=("commit:images", 1, "erofs"))
    assert r.exit_code == 2 and "read-only" in r.output and "--home" in r.output, r.output
