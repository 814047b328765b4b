"""The derived parts of a collection: one step each, run in this order by every commit and every
repair (pipeline/transaction.py, pipeline/repair.py). Adding a derived file is one module with a
DerivedStep (step.py) and one entry here; the crash and repair suites cover every entry."""
from __future__ import annotations

from .biases import Biases
from .duplicates import Duplicates
from .index import ImageIndex, TextsIndex
from .step import CARRY, DROP, Change, DerivedStep, Items

STEPS: list[DerivedStep] = [
    ImageIndex(),
    TextsIndex(),
    Biases("image_bias", "images"),
    Biases("text_bias", "texts", until="image -> text queries rank by cosine until then"),
    Duplicates(),
]

__all__ = ["CARRY", "DROP", "STEPS", "Change", "DerivedStep", "Items"]
