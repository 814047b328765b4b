"""Near-duplicate groups: photos a person would call the same photo (re-saved, resized, cropped,
re-toned copies; the frames of a burst when nothing moved), found from the stored vectors and the
pixel signatures taken at decode time, grouped around a suggested keeper. Nothing is ever deleted
or moved: vsearch only lists the groups.

    find_pairs(batches, n, dim) -> Pairs         every near pair of a collection (streamed)
    find_new_pairs(new, search, ...) -> Pairs    those of the photos an ingest adds
    duplicate_groups(pairs, images, Rule(t))     the groups, as rows of the images table
"""
from .find import find_new_pairs, find_pairs
from .groups import HOW, THRESHOLD, Rule, group_ids
from .listing import Group, duplicate_groups
from .pairs import PAIR_FLOOR, Pairs
from .rows import Batch

__all__ = ["Batch", "Group", "HOW", "PAIR_FLOOR", "Pairs", "Rule", "THRESHOLD", "duplicate_groups",
           "find_new_pairs", "find_pairs", "group_ids"]
