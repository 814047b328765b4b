"""Ingest as plan -> stages -> commit: `plan` (scan + diff), stages (`decode`: read + hash +
decode, `encode`, `write`: vector shards), `results` (what reading found), `commit` (index,
tables, manifest), composed by a runner (`local`; the Ray Data job composes the same stages).
`reindex` and `texts` are the collection's other writers."""
