"""The service fuzzed from its own OpenAPI schema with schemathesis (examples, coverage, fuzzing
and stateful phases, positive and negative data): whatever it generates, the server never answers
a 5xx. The default run is small (20 cases per operation); `-m slow` runs 300 per operation.
The number of requests generated is printed (`-s`) and asserted."""
from __future__ import annotations

import re
import subprocess
import sys

import pytest

from serve_fixtures import served_collection, start_server

TOKEN = "fuzz-token-0123456789abcdef"


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    pytest.importorskip("schemathesis", reason="needs schemathesis (in the dev extra)")
    home, _ = served_collection(tmp_path_factory)
    s = start_server(home, tmp_path_factory.mktemp("log"), "--serve-files", "--max-k", "200", token=TOKEN)
    yield s
    log = s.stop()
    assert "internal error" not in log, log[-3000:]


def fuzz(server, examples: int, tmp_path) -> int:
    """Run schemathesis against the live server; the number of test cases it generated."""
    r = subprocess.run([sys.executable, "-m", "schemathesis.cli", "run", f"{server.url}/openapi.json",
                        "--checks", "not_a_server_error", "--max-examples", str(examples), "--seed", "20261203",
                        "--generation-database", "none", "--no-color", "--workers", "1", "--request-timeout", "60",
                        "-H", f"Authorization: Bearer {TOKEN}"],
                       capture_output=True, text=True, cwd=tmp_path, timeout=1800)
    m = re.search(r"Test cases:\s*\n\s*(\d+) generated, (\d+) passed", r.stdout)
    assert r.returncode == 0 and m, r.stdout[-6000:] + r.stderr[-2000:]
    generated, passed = int(m.group(1)), int(m.group(2))
    assert passed == generated, r.stdout[-6000:]
    print(f"\nschemathesis: {generated} requests generated, 0 server errors ({examples} examples per operation)")
    return generated


def test_fuzzing_from_the_schema_finds_no_server_error(server, tmp_path):
    assert fuzz(server, 20, tmp_path) > 500


@pytest.mark.slow
def test_a_longer_fuzz_finds_no_server_error(server, tmp_path):
    assert fuzz(server, 300, tmp_path) > 5000
