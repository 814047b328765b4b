"""What every route of one server shares (built once by app.create_app)."""
from __future__ import annotations

from dataclasses import dataclass

from .auth import Auth
from .config import ServeConfig
from .files import Urls
from .limits import Workers
from .metrics import Metrics
from .schemas import Inputs
from .served import Served


@dataclass(frozen=True)
class Context:
    config: ServeConfig
    served: Served
    workers: Workers
    auth: Auth
    urls: Urls
    metrics: Metrics
    inputs: Inputs
    examples: tuple[list[str], int | None] = ([], None)   # collection names and an image id, for the schema
