"""What every command shares: options, the one error path, JSON output and the progress bar."""
from __future__ import annotations

import functools
import gc
import json
import os
import sys
from typing import Any, Callable

import click
import typer
from rich.console import Console
from typer.exceptions import TyperException

from ..errors import VsearchError
from ..index import KINDS
from ..interrupt import exit_code
from ..progress import Progress

out = Console(highlight=False, markup=False, emoji=False)  # nothing printed is markup: names are data
err = Console(stderr=True, highlight=False, markup=False, emoji=False)

HomeOpt = typer.Option(None, "--home", help="Index home folder (default: $VSEARCH_HOME, else ./indexes).")
CollOpt = typer.Option(None, "--collection", "-c", help="Collection name (default: the only one).")
JsonOpt = typer.Option(False, "--json", help="Print machine-readable JSON instead of a table.")
IndexOpt = typer.Option(None, "--index", help="Index kind: auto (chosen for the size and memory budget, then its recall "
                        "measured); " + "; ".join(f"{kind} ({KINDS[kind].summary})" for kind in sorted(KINDS)) + ". "
                        "Default: auto for a new collection; an existing one keeps what it was given.")
MaxMemoryOpt = typer.Option(None, "--max-index-memory", metavar="SIZE",
                            help="Memory auto may give the index, e.g. 500MB or 4GB (default: a quarter of this machine's RAM; "
                                 "kept by later ingests once given).")

_UNITS = {"": 1, "b": 1, "k": 1 << 10, "kb": 1 << 10, "m": 1 << 20, "mb": 1 << 20, "g": 1 << 30, "gb": 1 << 30,
          "t": 1 << 40, "tb": 1 << 40}


def parse_size(text: str | None, option: str = "--max-index-memory") -> int | None:
    """'500MB', '4g', '1.5GB' or a number of bytes -> bytes (binary units)."""
    if text is None:
        return None
    import re

    m = re.fullmatch(r"\s*(\d+(?:\.\d+)?)\s*([a-zA-Z]*)\s*", text)
    unit = m.group(2).lower() if m else None
    if m is None or unit not in _UNITS:
        raise typer.BadParameter(f"{text!r} is not a size; write e.g. 500MB, 4GB or a number of bytes", param_hint=option)
    return int(float(m.group(1)) * _UNITS[unit])


def fail(message: str, code: int = 2) -> None:
    from rich.text import Text

    # A Text, never markup: messages quote file names and filters; soft_wrap keeps it one line.
    err.print(Text.assemble(("error:", "red"), " ", _one_line(message)), soft_wrap=True)
    raise typer.Exit(code)


MAX_MESSAGE = 1_000  # characters of an error line: messages quote names, and a name may be 10,000 characters


def _one_line(message: str) -> str:
    from ..escape import for_terminal

    text = for_terminal(" ".join(str(message).split()))
    return text if len(text) <= MAX_MESSAGE else f"{text[:MAX_MESSAGE * 2 // 3]} … {text[-MAX_MESSAGE // 4:]}"


def handles_errors(command: Callable) -> Callable:
    """The one error path of the CLI: every library error (and I/O error, memory error,
    interruption) becomes a one-line message on stderr and a non-zero exit code. Anything else
    is a bug: one line too, with the traceback only when VSEARCH_DEBUG is set."""

    @functools.wraps(command)
    def run(*args, **kwargs):
        try:
            return _run(*args, **kwargs)
        except KeyboardInterrupt as e:  # Ctrl-C, SIGTERM, SIGHUP (vsearch/interrupt.py)
            code = exit_code(e)
        # Outside the except block: the interruption, its traceback and the frames it holds (a
        # decode pool among them) are gone before the exit, so every worker has been stopped.
        gc.collect()
        try:
            err.print("interrupted")
        except OSError:  # a hung-up terminal
            pass
        raise typer.Exit(code)

    def _run(*args, **kwargs):
        try:
            return command(*args, **kwargs)
        except (typer.Exit, typer.Abort, SystemExit, TyperException, click.ClickException):
            raise  # usage errors and exits: typer prints and exits as usual
        except VsearchError as e:
            fail(str(e))
        except OSError as e:
            where = f" ({e.filename})" if getattr(e, "filename", None) else ""
            fail(f"{e.strerror or e}{where}")
        except MemoryError:
            fail("out of memory; try smaller --batch-size or --workers")
        except Exception as e:  # a bug: say so in one line
            if os.environ.get("VSEARCH_DEBUG"):
                raise
            fail(f"internal error ({type(e).__name__}: {e}); run with VSEARCH_DEBUG=1 for the traceback, "
                 f"and please report it", code=3)

    return run


def print_json(obj: Any) -> None:
    sys.stdout.write(json.dumps(obj, indent=1, default=str) + "\n")


def human_bytes(n: int | None) -> str:
    if n is None:
        return ""
    for unit in ("B", "KB", "MB", "GB"):
        if n < 1024 or unit == "GB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1024
    return str(n)


def progress_bar(enabled: bool) -> "BarReporter | None":
    """A progress reporter drawing rich bars on stderr, or None when off (--json, no terminal)."""
    return BarReporter() if enabled and sys.stderr.isatty() else None


class BarReporter:
    """Draws the library's progress events (vsearch.progress) as rich progress bars."""

    def __init__(self):
        from rich.progress import BarColumn, MofNCompleteColumn, TextColumn, TimeRemainingColumn
        from rich.progress import Progress as Bars

        self.bars = Bars(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeRemainingColumn(),
                         console=err, transient=False)
        self.tasks: dict[str, Any] = {}

    def __enter__(self) -> "BarReporter":
        self.bars.start()
        return self

    def __exit__(self, *exc) -> None:
        self.bars.stop()

    def __call__(self, p: Progress) -> None:
        label = p.task + (f" ({p.note})" if p.note else "")
        if p.task not in self.tasks:
            self.tasks[p.task] = self.bars.add_task(label, total=p.total)
        self.bars.update(self.tasks[p.task], completed=p.done, total=p.total, description=label)


class _NoBars:
    def __enter__(self) -> None:
        return None

    def __exit__(self, *exc) -> None:
        return None


def bars(enabled: bool):
    """`with bars(not as_json) as progress:` gives a Reporter (or None) for library calls."""
    bar = progress_bar(enabled)
    return bar if bar is not None else _NoBars()

