"""The `vsearch` command: parse, call the public API, print (rich) or --json. No logic here.

One module per journey: ingest, import, query, collections (info, list, reindex, texts), evaluate,
train, models, ui, serve. Every command goes through `common.handles_errors`: a library error is a
one-line message and exit code 2.
"""
from __future__ import annotations

import os
import sys

import typer

from . import collections, duplicates, evaluate, importing, ingest, models, query, serve, train, ui

app = typer.Typer(add_completion=False, no_args_is_help=True, rich_markup_mode=None,
                  help="Search a folder of photos by describing them.\n\n"
                       "\b\n  vsearch ingest ./photos\n  vsearch query \"a red bicycle\"\n"
                       "  vsearch query --image ./query.jpg\n\n"
                       "Collections live under $VSEARCH_HOME, else ./indexes (override with --home).")
app.command()(ingest.ingest)
app.command("import")(importing.import_)
app.command()(query.query)
app.command()(duplicates.duplicates)
app.command()(collections.info)
app.command()(collections.reindex)
app.command("list")(collections.list_)
app.add_typer(collections.texts_app, name="texts")
app.command("eval")(evaluate.eval_)
app.command()(train.train)
app.command("fit-hubness")(train.fit_hubness_cmd)
app.command("calibrate-int8")(train.calibrate_int8_cmd)
app.command("train-itm")(train.train_itm)
app.command()(models.models)
app.command()(ui.ui)
app.command()(serve.serve)


AS_PROGRAM = False  # True when `main` runs (the `vsearch` program), not when tests call `app`


def main() -> None:
    global AS_PROGRAM
    AS_PROGRAM = True
    from ..interrupt import exit_code, install

    install()  # Ctrl-C, SIGTERM, SIGHUP: one line and 130/143/129, every worker stopped
    try:
        app()
        code = 0
    except SystemExit as e:
        code = e.code
    except KeyboardInterrupt as e:  # outside a command (parsing, exit)
        sys.stderr.write("interrupted\n")
        code = exit_code(e)
    if "torch" in sys.modules and (code is None or isinstance(code, int)):
        # Tearing PyTorch down at exit costs ~1.5 s here (timm imports its compiler stack). Every
        # file a command writes is committed and closed before it returns: only output is pending.
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(code or 0)
    raise SystemExit(code)


__all__ = ["app", "main"]
