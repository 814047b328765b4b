"""`vsearch ui`: start the Streamlit app that ships inside the package (vsearch/ui/app.py)."""
from __future__ import annotations

import sys
from pathlib import Path
from typing import Optional

import typer

from ..errors import VsearchError
from .common import HomeOpt, handles_errors


@handles_errors
def ui(
    collection: Optional[str] = typer.Argument(None, help="Collection to open first (default: the first one; all are in the picker)."),
    home: Optional[Path] = HomeOpt,
    port: int = typer.Option(8501, min=1, max=65535, help="Port of the local web server."),
    address: str = typer.Option("localhost", help="Address to listen on (localhost keeps it private to this machine)."),
    browser: bool = typer.Option(True, "--browser/--no-browser", help="Open a browser tab."),
    reranker: Optional[Path] = typer.Option(None, "--reranker", help="ITM checkpoint from `vsearch train-itm` for the rerank toggle (default: the model's shipped one)."),
) -> None:
    """Open the Streamlit app: search by text or example image, filter, browse, see evaluations."""
    import os

    from ..ui import APP_FILE

    try:
        import streamlit  # noqa: F401
    except ImportError:
        raise VsearchError('the UI needs Streamlit: pip install "vsearch[ui]"')
    cmd = [sys.executable, "-m", "streamlit", "run", str(APP_FILE), "--server.port", str(port),
           "--server.address", address, "--server.headless", str(not browser).lower(),
           "--browser.gatherUsageStats", "false", "--client.toolbarMode", "minimal", "--"]
    if home:
        cmd += ["--home", str(Path(home).resolve())]
    if collection:
        from ..store.home import check_collection_name

        cmd += ["--collection", check_collection_name(collection, "give the name of a collection `vsearch list` shows")]
    if reranker:
        cmd += ["--reranker", str(reranker.resolve())]
    # Become the server (not its parent): stopping `vsearch ui` then stops Streamlit too.
    sys.stdout.flush()
    os.execv(sys.executable, cmd)
