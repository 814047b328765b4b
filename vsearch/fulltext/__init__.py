"""The keyword side of search: a full-text index (Tantivy, BM25) over each photo's words."""
from .analysis import DESCRIBED, FIELDS, ParsedQuery, coverage, documents, is_described, matched, parse_query, terms
from .index import KeywordIndex

__all__ = ["DESCRIBED", "coverage", "documents", "is_described", "FIELDS", "ParsedQuery", "KeywordIndex", "matched", "parse_query", "terms"]
