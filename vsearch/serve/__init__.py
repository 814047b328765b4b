"""`vsearch serve`: the engine as an HTTP service (FastAPI on uvicorn; `pip install "vsearch[serve]"`).

A thin shell over the public Python API, like the CLI: vsearch's own versioned API under /v1,
clip-retrieval's clip-back protocol at the root, health and Prometheus metrics. The library never
imports this package.

    app.py        create_app(config): routers, error handlers, middleware
    config.py     ServeConfig and Limits (every bound, with its default)
    served.py     the collections, opened once, following commits
    v1_search.py  /v1 search (text, image, like, vector; image -> text)
    v1_browse.py  /v1 collections, info, facets, image metadata, thumbnails, files
    clip_back.py  /knn-service, /metadata, /indices-list
    auth.py  limits.py  metrics.py  middleware.py  errors.py  files.py  queries.py  schemas.py
"""
from .app import create_app
from .config import Limits, ServeConfig

__all__ = ["create_app", "ServeConfig", "Limits"]
