"""Stopping quietly: Ctrl-C (SIGINT, sent by the terminal to the whole process group), SIGTERM and
SIGHUP end a command with one line ("interrupted") and the usual exit code (128 + the signal: 130,
143, 129), whichever process of it they reach.

- The command's process (`install`, called by the CLI): each of the three raises `Interrupted` (a
  KeyboardInterrupt) in the main thread, so every `with` and `finally` runs: the decode pool is
  terminated, a half-written file stays a temporary file the next writer removes, the collection
  stays at its last commit and the next run resumes. The first signal puts the default actions
  back, so a second one ends the process at once.
- Worker processes (`quiet_worker`, called as each starts) leave the process group, so a signal to
  the group reaches only their parent, which stops them the way multiprocessing expects (a worker
  that died on its own signal while holding its pool's queue lock would hang the pool's shutdown,
  and one killed while sending a result would garble the parent's result stream). They still
  ignore SIGINT, end without a word on SIGTERM and SIGHUP, and end with their parent (Linux), so
  none lingers even when the parent is killed outright.
"""
from __future__ import annotations

import os
import signal

SIGNALS = tuple(getattr(signal, name) for name in ("SIGINT", "SIGTERM", "SIGHUP") if hasattr(signal, name))


class Interrupted(KeyboardInterrupt):
    """A stop asked for by a signal."""

    def __init__(self, signum: int):
        super().__init__(signal.Signals(signum).name)
        self.signum = signum


def exit_code(exc: BaseException) -> int:
    """128 + the signal that stopped the command (a plain KeyboardInterrupt is a Ctrl-C: 130)."""
    return 128 + int(getattr(exc, "signum", signal.SIGINT))


def _raise(signum: int, frame) -> None:
    for s in SIGNALS:
        signal.signal(s, signal.SIG_DFL)
    raise Interrupted(signum)


def install() -> None:
    """Make SIGINT, SIGTERM and SIGHUP raise Interrupted in this (main) thread."""
    for s in SIGNALS:
        try:
            signal.signal(s, _raise)
        except (ValueError, OSError):  # not the main thread, or a signal this platform cannot catch
            pass


def quiet_worker() -> None:
    """In a worker process: out of the process group; ignore SIGINT, die silently on SIGTERM and
    SIGHUP, die with the parent."""
    try:
        os.setpgid(0, 0)
    except OSError:
        pass
    for s in SIGNALS:
        signal.signal(s, signal.SIG_IGN if s == signal.SIGINT else signal.SIG_DFL)
    try:
        import ctypes

        ctypes.CDLL(None, use_errno=True).prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG
    except (OSError, AttributeError):  # not Linux: terminate() still ends them
        pass
