"""What every ingest (both runners, and import) does first, in its writer transaction: open the
model and the collection (pipeline/transaction.py: the model checked, damaged metadata repaired),
then the vector shards — with what a killed run left unfinished removed — and the reranker whose
image tokens this ingest stores. Shared, so that the runners cannot drift apart on what they accept."""
from __future__ import annotations

from dataclasses import dataclass

from ..models.token_reranker import TokenReranker, token_reranker
from ..progress import Reporter
from ..store.tokens import TokenStore
from ..store.vectors import VectorStore
from .config import IngestConfig, IngestSummary
from .transaction import Transaction


@dataclass
class Opened:
    vectors: VectorStore                         # the shards, with what a killed run left unfinished removed
    reranker: TokenReranker | None = None        # whose image tokens this ingest stores, if any
    tokens: TokenStore | None = None             # where they go


def open_for_ingest(tx: Transaction, cfg: IngestConfig, summary: IngestSummary, model=None, reranker=None,
                    device: str | None = None, progress: Reporter | None = None) -> Opened:
    """`model` / `reranker`: already-loaded objects to use instead of opening them by name;
    `device` overrides `cfg.device` (the Ray driver never encodes, so it opens on the CPU)."""
    summary.repaired = tx.open(model if model is not None else cfg.model, device=cfg.device if device is None else device,
                               precision=cfg.precision, index_type=cfg.index_type, progress=progress)
    summary.generation = tx.manifest.generation
    opened = Opened(tx.store.vectors(tx.model.embed_dim))
    opened.vectors.remove_incomplete()
    opened.reranker = token_reranker(tx.model, reranker, cfg.reranker) if cfg.rerank_tokens else None
    if opened.reranker is not None:
        opened.tokens = TokenStore(tx.store.folder, opened.reranker.fingerprint)
        opened.tokens.remove_incomplete()
    return opened
