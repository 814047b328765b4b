"""The vsearch CLI with a fault at a named write (vsearch.atomic.crash_points, as faiss contrib's
crash_at): `python tests/crash_runner.py POINT NTH FAULT ARGS...`.

Just before the NTH file written at POINT ("shard", "commit:images", "manifest", ...; "-" for none)
is renamed into place, FAULT happens (with the test probe among the derived steps, tests/derived_probe.py): `kill` (SIGKILL: the process dies there, as in a power cut
or an OOM kill), `enospc` (disk full) or `eacces` (permission denied).
"""
from __future__ import annotations

import errno
import os
import signal
import sys

FAULTS = {"enospc": (errno.ENOSPC, "No space left on device"), "eacces": (errno.EACCES, "Permission denied"),
          "erofs": (errno.EROFS, "Read-only file system")}


def arm(point: str, nth: int, fault: str) -> None:
    from vsearch import atomic

    seen = [0]

    def hook(path) -> None:
        seen[0] += 1
        if seen[0] != nth:
            return
        if fault == "kill":
            os.kill(os.getpid(), signal.SIGKILL)
        code, text = FAULTS[fault]
        raise OSError(code, text, str(path))

    atomic.crash_points[point] = hook


def main() -> None:
    point, nth, fault, args = sys.argv[1], int(sys.argv[2]), sys.argv[3], sys.argv[4:]
    import vsearch.cli
    from derived_probe import register

    register()  # as the crash suite does in its own process: every derived part is covered

    if point != "-":
        arm(point, nth, fault)
    sys.argv = ["vsearch", *args]
    vsearch.cli.main()


if __name__ == "__main__":
    main()
