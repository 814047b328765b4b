"""The service: `create_app(config)` opens the collections and returns the ASGI app that
`vsearch serve` runs on uvicorn.

    /v1/...                 vsearch's own API (v1_search.py, v1_browse.py), described by /openapi.json
    /knn-service, /metadata, /indices-list     clip-retrieval's clip-back protocol (clip_back.py)
    /healthz, /metrics      liveness and Prometheus metrics

FastAPI rather than bare Starlette: the /v1 API's request and response models are the OpenAPI
schema (published, and fuzzed by the tests), validation is Pydantic's compiled core, and FastAPI
is Starlette underneath, so the per-request cost is Starlette's plus that validation. Searches
run on a fixed thread pool (limits.Workers): ONNX Runtime and FAISS release the GIL, so one
process uses every core while sharing one copy of the model, the index and the caches.
"""
from __future__ import annotations

from contextlib import asynccontextmanager

import anyio
from fastapi import FastAPI
from starlette.middleware.cors import CORSMiddleware
from starlette.responses import Response

from .. import __version__
from .auth import Auth
from .clip_back import router as clip_back_router
from .config import ServeConfig
from .context import Context
from .errors import install as install_errors
from .files import Urls
from .limits import Workers
from .metrics import Metrics
from .middleware import Guard
from .schemas import Health, Inputs
from .served import Served
from .v1_browse import router as browse_router
from .v1_duplicates import router as duplicates_router
from .v1_search import router as search_router


def create_app(config: ServeConfig, served: Served | None = None) -> FastAPI:
    config.check()
    one_thread_per_search()
    served = served or Served(config)
    auth = Auth(config.token)
    ctx = Context(config=config, served=served, workers=Workers(config.limits), auth=auth,
                  urls=Urls(auth, config.public_url), metrics=Metrics(served.all), inputs=Inputs(config.limits),
                  examples=_examples(served))
    @asynccontextmanager
    async def lifespan(app: FastAPI):
        yield
        ctx.workers.close()
        served.close()

    app = FastAPI(title="vsearch", version=__version__, lifespan=lifespan,
                  summary="Semantic search over photo collections: vsearch's /v1 API and clip-retrieval's clip-back protocol.")
    app.state.ctx = ctx
    install_errors(app)
    app.include_router(search_router(ctx))
    app.include_router(browse_router(ctx))
    app.include_router(duplicates_router(ctx))
    app.include_router(clip_back_router(ctx))

    # Off the event loop (a look at a collection may load its newer generation), and off the search
    # pool (a health check must not queue behind searches).
    @app.get("/healthz", response_model=Health, tags=["service"], summary="Liveness, and the generation of each collection")
    async def healthz() -> dict:
        generations = await anyio.to_thread.run_sync(lambda: {c.name: c.snapshot().generation for c in served.all()})
        return {"status": "ok", "collections": generations}

    @app.get("/metrics", tags=["service"], summary="Prometheus metrics", response_class=Response,
             responses={200: {"content": {"text/plain": {}}}})
    async def metrics() -> Response:
        return Response(await anyio.to_thread.run_sync(ctx.metrics.render), media_type=ctx.metrics.content_type)

    app.add_middleware(Guard, auth=auth, metrics=ctx.metrics, max_body=config.limits.max_body,
                       timeout_s=config.limits.timeout_s)
    if config.cors_origins:
        app.add_middleware(CORSMiddleware, allow_origins=list(config.cors_origins), allow_methods=["GET", "POST"],
                           allow_headers=["Authorization", "Content-Type"],
                           expose_headers=["X-Vsearch-Ignored", "X-Vsearch-Clamped"])
    return app


def _examples(served: Served) -> tuple[list[str], int | None]:
    names = served.names()
    images = served.get(names[0]).images
    return names, (int(images.column("id")[0].as_py()) if len(images) else None)


def one_thread_per_search() -> None:
    """FAISS's OpenMP threads and ONNX Runtime's intra-op threads would fight the request threads for
    the cores: one query, one thread (set before any model session is made)."""
    import os

    import faiss

    from ..models.onnx_runtime import THREADS_ENV

    faiss.omp_set_num_threads(1)
    os.environ.setdefault(THREADS_ENV, "1")
