"""Run the vsearch CLI under an address-space limit: `python tests/run_limited.py EXTRA_BYTES ARGS...`.

The limit is set after the heavy imports (PyTorch reserves gigabytes of address space it never
touches), at their footprint plus EXTRA_BYTES, so it bounds what the command itself allocates;
decode workers forked from it inherit it. A file that asks for more memory than it is worth then
fails the test (its reason says "out of memory") instead of swapping the machine.
"""
from __future__ import annotations

import resource
import sys


def vm_size() -> int:
    with open("/proc/self/status") as f:
        return next(int(line.split()[1]) * 1024 for line in f if line.startswith("VmSize:"))


def main() -> None:
    extra, args = int(sys.argv[1]), sys.argv[2:]
    import torch  # noqa: F401 - imported before the limit is measured

    import vsearch.cli
    import vsearch.models  # noqa: F401

    limit = vm_size() + extra
    resource.setrlimit(resource.RLIMIT_AS, (limit, limit))
    sys.argv = ["vsearch", *args]
    vsearch.cli.main()


if __name__ == "__main__":
    main()
