"""The keyword side of search: a full-text index (Tantivy, BM25) over each photo's words."""
from .analysis import FIELDS, ParsedQuery, matched, parse_query, terms
from .index import KeywordIndex

__all__ = ["FIELDS", "ParsedQuery", "KeywordIndex", "matched", "parse_query", "terms"]
