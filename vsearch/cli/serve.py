"""`vsearch serve`: the collections as an HTTP service (vsearch/serve/), on uvicorn."""
from __future__ import annotations

from pathlib import Path
from typing import List, Optional

import typer

from ..errors import VsearchError
from ..escape import for_terminal
from .common import HomeOpt, err, handles_errors


@handles_errors
def serve(
    collection: Optional[List[str]] = typer.Option(None, "--collection", "-c", help="A collection to serve (repeat for several; default: every collection of the home, and those created later)."),
    home: Optional[Path] = HomeOpt,
    host: str = typer.Option("127.0.0.1", help="Address to listen on. Anything but loopback needs --token (or --insecure)."),
    port: int = typer.Option(8000, min=1, max=65535, help="Port to listen on."),
    token: Optional[str] = typer.Option(None, envvar="VSEARCH_TOKEN", help="Bearer token every request must carry ('Authorization: Bearer TOKEN'); also read from $VSEARCH_TOKEN, which keeps it out of `ps`."),
    insecure: bool = typer.Option(False, "--insecure", help="Serve a non-loopback address without a token (anyone who can reach it can search)."),
    cors_origin: Optional[List[str]] = typer.Option(None, "--cors-origin", help="A web origin allowed to call from a browser, e.g. http://localhost:1235 for clip-retrieval's front (repeat; '*' for any)."),
    serve_files: bool = typer.Option(False, "--serve-files", help="Also serve the original files (only those inside the collection's roots)."),
    public_url: Optional[str] = typer.Option(None, help="The URL clients reach this server at (behind a proxy), for the thumbnail URLs in results."),
    max_upload_mb: float = typer.Option(20, min=0.1, help="Largest image a query may upload, in MB."),
    max_k: int = typer.Option(1000, min=1, max=100_000, help="Most results one query may ask for (k + offset)."),
    timeout: float = typer.Option(30.0, min=0.1, help="Seconds a request may take before it is answered 504."),
    threads: int = typer.Option(0, min=0, max=256, help="Searches running at once (default: twice the CPU cores, 4 to 32)."),
    reload_every: float = typer.Option(0.5, min=0.01, help="Seconds between checks for a newer committed generation."),
    text_cache: int = typer.Option(1000, min=0, help="Recent text queries whose vectors are kept (0: none)."),
    access_log: bool = typer.Option(False, "--access-log/--no-access-log", help="Log every request."),
) -> None:
    """Serve collections over HTTP: vsearch's /v1 API (schema at /openapi.json), clip-retrieval's
    clip-back protocol (/knn-service, /metadata, /indices-list), /healthz and Prometheus /metrics.

    \b
      vsearch serve                                  # http://127.0.0.1:8000, every collection
      curl -s localhost:8000/v1/collections/photos/search -H 'Content-Type: application/json' -d '{"text": "a red bicycle", "k": 5}'
      VSEARCH_TOKEN=$(openssl rand -hex 16) vsearch serve --host 0.0.0.0
    """
    try:
        import uvicorn

        from ..serve import Limits, ServeConfig, create_app
    except ImportError as e:
        raise VsearchError(f'the service needs its extra ({e.name} is missing): pip install "vsearch[serve]"') from None
    from ..store.home import index_home

    limits = Limits(max_upload=int(max_upload_mb * (1 << 20)), max_k=max_k, timeout_s=timeout, threads=threads)
    config = ServeConfig(home=index_home(home), collections=tuple(collection or ()), host=host, port=port, token=token,
                         insecure=insecure, cors_origins=tuple(cors_origin or ()), serve_files=serve_files,
                         public_url=public_url, reload_every=reload_every, text_cache=text_cache, limits=limits)
    config.check()  # before loading anything: a refused address fails at once
    app = create_app(config)
    served = app.state.ctx.served
    served.warm()
    shown = f"[{host}]" if ":" in host else host
    err.print(f"vsearch serve: {for_terminal(', '.join(served.names()))} on http://{shown}:{port} "
              f"({'token required' if token else 'no token'}; /openapi.json describes the API)", soft_wrap=True)
    uvicorn.run(app, host=host, port=port, log_level="warning", access_log=access_log, server_header=False,
                limit_concurrency=limits.max_connections, timeout_keep_alive=5, timeout_graceful_shutdown=5)
