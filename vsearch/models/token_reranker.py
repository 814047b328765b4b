"""The ITM reranker whose image tokens an ingest stores, known without PyTorch: its fingerprint
(names the token store and the image export with tokens) and the feature map it reads (from the
registry's data alone); the reranker itself is loaded only to export its bottleneck or to run it
eagerly."""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable

from ..errors import CheckpointError
from .families import capabilities

if TYPE_CHECKING:
    from .handle import ModelHandle


def reranker_feature_map() -> str | None:
    """The image feature map every ITM reranker reads: that of its frozen towers
    (models/registry.py RERANKER_TOWERS, which models/itm.py builds)."""
    from .registry import RERANKER_TOWERS

    return capabilities(RERANKER_TOWERS).feature_map


@dataclass
class TokenReranker:
    fingerprint: str
    feature_map: str | None
    loader: Callable[[], Any] = field(repr=False)
    _loaded: Any = field(default=None, repr=False)

    def load(self):
        if self._loaded is None:
            self._loaded = self.loader()
        return self._loaded

    @property
    def head(self):
        return self.load().head

    @classmethod
    def of(cls, reranker) -> "TokenReranker":
        """A loaded Reranker (models/itm.py)."""
        if isinstance(reranker, TokenReranker):
            return reranker
        return cls(reranker.fingerprint, reranker.towers.capabilities.feature_map, lambda: reranker, reranker)

    @classmethod
    def from_file(cls, path: Path) -> "TokenReranker":
        from .checkpoint import file_digest
        from .loading import checkpoint_config

        checkpoint_config(path)  # a file that is no checkpoint fails now, before any work
        return cls(file_digest(path), reranker_feature_map(), lambda: _load_reranker_file(path))


def _load_reranker_file(path: Path):
    from .itm import load_reranker_file

    return load_reranker_file(path)


def token_reranker(handle: ModelHandle, given=None, path: Path | None = None) -> TokenReranker | None:
    """The reranker whose image tokens ingest stores — `given` (a loaded Reranker), else the
    checkpoint at `path`, else the model's shipped one — when it reads this model's final
    feature map; else None. Needs no PyTorch unless `given` is a loaded reranker."""
    if given is not None:
        rr = TokenReranker.of(given)
    else:
        from .registry import reranker_file

        if path is not None and not Path(path).is_file():
            raise CheckpointError(f"no reranker checkpoint at {path}; train one with `vsearch train-itm`")
        file = Path(path) if path is not None else reranker_file(handle.name)
        if file is None:
            return None
        rr = TokenReranker.from_file(file)
    return rr if handle.reads_feature_map(rr) else None
