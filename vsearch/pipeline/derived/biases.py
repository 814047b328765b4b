"""Each item's hubness correction (models/hubness.py) as a derived table, `image_bias` for the
images and `text_bias` for the corpus: biases already stored by the same correction are reused,
the rest computed from the vectors of just those items."""
from __future__ import annotations

import numpy as np
import pyarrow as pa

from ...errors import CollectionFormatError
from ...models.hubness import reuse_or_compute_chunks
from ...store.tables import BIAS_SCHEMA
from .step import CARRY, DROP, Change, DerivedStep


class Biases(DerivedStep):
    schema = BIAS_SCHEMA

    def __init__(self, key: str, subject: str, until: str = ""):
        self.key, self.subject, self.until = key, subject, until
        self.what = f"the hubness correction of {subject}"

    def derive(self, change: Change) -> pa.Table | bool | None:
        """DROP when the model has no correction; CARRY when the items and the correction are
        those of the stored table."""
        hubness = change.model.hubness
        if hubness is None:
            return DROP
        items = change.items[self.subject]
        try:
            previous = change.store.bias_arrays(self.key, hubness.signature) if change.store.exists() else None
        except CollectionFormatError:  # damaged: computed anew
            previous = None
        if previous is not None and np.array_equal(previous[0], items.live):
            return CARRY
        correct = hubness.image_bias if self.subject == "images" else hubness.text_bias
        bias = reuse_or_compute_chunks(correct, items.live, previous, items.vectors.chunks)  # only the new ids' vectors
        return pa.table({"id": items.live, "bias": bias}, schema=BIAS_SCHEMA.with_metadata({"hubness": hubness.signature}))
