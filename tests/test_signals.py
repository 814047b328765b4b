"""Ctrl-C, SIGTERM and SIGHUP stop every process of an ingest quietly (issue 20, defect 6): sent
to the whole process group (as a terminal sends Ctrl-C) or to the vsearch process alone, the
ingest prints one line, "interrupted", exits 130 / 143 / 129, leaves no worker behind and no
traceback from any of them; the next run resumes and equals a clean run (vsearch/interrupt.py)."""
from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from collection_state import differences, snapshot
from conftest import FLICKR, make_image

N = 64
HERE = Path(__file__).resolve().parent


@pytest.fixture(scope="module")
def photos(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("signals") / "photos"
    root.mkdir()
    names = sorted(os.listdir(FLICKR / "images"))[:N] if (FLICKR / "images").is_dir() else []
    for name in names:
        shutil.copy(FLICKR / "images" / name, root / name)
    for i in range(N - len(names)):  # without Flickr8k: photos of noise, slow enough to decode
        make_image(root / f"{i:03d}.jpg", ["red", "green", "blue", "yellow"][i % 4], size=(640, 480))
    return root


def start(photos: Path, home: Path, *extra: str) -> subprocess.Popen:
    env = {**os.environ, "VSEARCH_HOME": str(home),
           "PYTHONPATH": os.pathsep.join([str(HERE.parent), os.environ.get("PYTHONPATH", "")])}
    return subprocess.Popen([sys.executable, "-m", "vsearch.cli", "ingest", str(photos), "--batch-size", "4",
                             "--workers", "2", *extra], env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True, start_new_session=True)  # its own process group, as a shell job has


def session_alive(sid: int) -> list[str]:
    """Processes of session `sid` still running (zombies, already dead, aside)."""
    found = []
    for pid in filter(str.isdigit, os.listdir("/proc")):
        try:
            with open(f"/proc/{pid}/stat") as f:
                fields = f.read().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(fields[3]) == sid and fields[0] != "Z":
            found.append(pid)
    return found


def interrupt(photos: Path, home: Path, sig: int, group: bool) -> tuple[int, str, str]:
    p = start(photos, home)
    shards = home / "photos" / "vectors"
    deadline = time.time() + 300
    while time.time() < deadline and len(list(shards.glob("shard-*.parquet"))) < 2 and p.poll() is None:
        time.sleep(0.02)
    assert p.poll() is None, p.communicate()
    (os.killpg if group else os.kill)(p.pid, sig)
    try:
        out, err = p.communicate(timeout=30)  # quick: a hang fails here
    except subprocess.TimeoutExpired:
        for pid in session_alive(p.pid):  # leave nothing running behind a failed test
            os.kill(int(pid), signal.SIGKILL)
        raise
    deadline = time.time() + 10
    while session_alive(p.pid) and time.time() < deadline:
        time.sleep(0.05)
    assert session_alive(p.pid) == [], "a worker outlived the ingest"
    return p.returncode, out, err


@pytest.mark.parametrize("group", [True, pytest.param(False, marks=pytest.mark.slow)], ids=["process-group", "vsearch-alone"])
@pytest.mark.parametrize("sig, code", [(signal.SIGINT, 130), (signal.SIGTERM, 143), (signal.SIGHUP, 129)],
                         ids=["INT", "TERM", "HUP"])
def test_a_signal_stops_every_process_with_one_line(photos, tmp_path, sig, code, group):
    returncode, out, err = interrupt(photos, tmp_path / "home", sig, group)
    assert returncode == code, err
    assert err.strip().splitlines() == ["interrupted"], err  # no traceback, from the workers either
    assert not (tmp_path / "home" / "photos" / "manifest.json").exists()  # stopped before its commit


def test_after_ctrl_c_the_next_run_resumes_and_equals_a_clean_run(photos, tmp_path):
    killed, clean = tmp_path / "killed", tmp_path / "clean"
    assert interrupt(photos, killed, signal.SIGINT, group=True)[0] == 130
    done_before = len(list((killed / "photos" / "vectors").glob("shard-*.parquet")))
    for home in (killed, clean):
        p = start(photos, home, "--json")
        out, err = p.communicate(timeout=600)
        assert p.returncode == 0, err
        summary = json.loads(out)
        if home == killed:
            assert summary["encoded"] <= N - 4 * done_before  # finished shards were kept, not encoded again
    assert differences(snapshot(killed / "photos"), snapshot(clean / "photos")) == []
