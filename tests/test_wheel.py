"""A plain (non-editable) wheel install has everything `vsearch ui` needs: the app ships inside
the package. Built and installed into a fresh virtual environment that borrows this
environment's dependencies, then run from a folder outside the checkout."""
from __future__ import annotations

import os
import subprocess
import sys
import sysconfig
import urllib.request
from pathlib import Path

import pytest

from ui_fixtures import free_port, start_ui

REPO = Path(__file__).resolve().parents[1]
# Subprocesses run outside the checkout, without PYTHONPATH: nothing but the wheel may provide vsearch.
CLEAN_ENV = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}


@pytest.fixture(scope="module")
def wheel_env(tmp_path_factory) -> Path:
    pytest.importorskip("streamlit")
    base = tmp_path_factory.mktemp("wheel")
    build = subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps", "-q", "-w", str(base / "dist"), str(REPO)],
                           capture_output=True, text=True, timeout=600)
    if build.returncode != 0 and "No matching distribution" in build.stderr + build.stdout:
        pytest.skip("no package index reachable to get the build backend")
    assert build.returncode == 0, build.stderr[-2000:]
    wheel = next((base / "dist").glob("vsearch-*.whl"))
    venv = base / "venv"
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(venv)], check=True)
    py = venv / "bin" / "python"
    site = Path(subprocess.run([py, "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
                               capture_output=True, text=True, check=True, cwd=base, env=CLEAN_ENV).stdout.strip())
    subprocess.run([sys.executable, "-m", "pip", "--python", str(py), "install", "--no-deps", "-q", str(wheel)],
                   check=True, timeout=300, cwd=base, env=CLEAN_ENV)
    # Then the dependencies come from this environment: a plain path entry, so its own (editable)
    # vsearch is not loaded, and written after the install so pip never sees or touches it.
    (site / "deps.pth").write_text(sysconfig.get_paths()["purelib"] + "\n")
    return venv


def test_wheel_contains_the_ui_and_serves_it(wheel_env, tmp_path):
    py, exe = wheel_env / "bin" / "python", wheel_env / "bin" / "vsearch"
    env = CLEAN_ENV
    where = subprocess.run([py, "-c", "import vsearch.ui; print(vsearch.ui.APP_FILE)"], cwd=tmp_path, env=env,
                           capture_output=True, text=True, check=True).stdout.strip()
    assert where.startswith(str(wheel_env)) and Path(where).is_file()  # the wheel's copy, not the checkout's

    # The app script runs from the installed package (an empty home: it says how to make a collection).
    script = ("from streamlit.testing.v1 import AppTest; import vsearch.ui as u; "
              "at = AppTest.from_file(str(u.APP_FILE), default_timeout=120); at.run(); "
              "assert not at.exception, at.exception; print(at.info[0].value)")
    run = subprocess.run([py, "-c", script], cwd=tmp_path, env={**env, "VSEARCH_HOME": str(tmp_path / "home")},
                         capture_output=True, text=True, timeout=300)
    assert run.returncode == 0 and "vsearch ingest" in run.stdout, run.stderr[-2000:]

    port = free_port()
    server = start_ui([exe, "ui", "--home", tmp_path / "home"], port, tmp_path / "streamlit.log", cwd=tmp_path, env=env)
    try:
        page = urllib.request.urlopen(f"http://localhost:{port}/", timeout=10).read().decode()
        assert "<div id=\"root\">" in page or "streamlit" in page.lower()
    finally:
        server.terminate()
        server.wait(20)
