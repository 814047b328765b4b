"""Ingest as plan -> stages -> commit: `plan` (scan + diff), stages (`decode`: read + hash +
decode; the encoder of models/image_encoder.py; `write`: vector shards), `results` (what reading
found), `commit` (the images and errors tables), composed by a runner (`local`, `ray_runner`)
inside `runner`'s frame. Every writer — ingest, `importing`, `reindex`, `texts`, and the `repair`
each starts with — goes through one writer transaction (`transaction`), whose commit runs the
list of derived steps (`derived`: the index, the biases, and the ones to come)."""
