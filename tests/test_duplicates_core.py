"""The near-duplicate core (vsearch/duplicates) on synthetic data: each search against brute force,
an update against a rebuild, the grouping's no-chaining rule and the keeper rule."""
from __future__ import annotations

from datetime import datetime

import numpy as np
import pyarrow as pa
import pytest
from PIL import Image

from vsearch.duplicates import Batch, Pairs, Rule, duplicate_groups, find_new_pairs, find_pairs, group_ids
from vsearch.duplicates import join
from vsearch.duplicates.hashjoin import hash_candidates, new_hash_candidates
from vsearch.duplicates.keeper import deciding_rule, file_order
from vsearch.duplicates.pixels import window_match
from vsearch.errors import InvalidOptionError
from vsearch.imaging.signature import SIDE, hamming, phash, thumbnail
from vsearch.store.tables import IMAGES_SCHEMA


def unit(x: np.ndarray) -> np.ndarray:
    return (x / np.linalg.norm(x, axis=1, keepdims=True)).astype(np.float32)


def library(n: int, copies: int, dim: int = 32, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """n vectors in loose clusters, the first `copies` of them with a near copy appended."""
    rng = np.random.default_rng(seed)
    centres = unit(rng.normal(size=(max(1, n // 50), dim)))
    base = unit(centres[rng.integers(0, len(centres), n)] + 0.9 * rng.normal(size=(n, dim)) / np.sqrt(dim))
    near = unit(base[:copies] + 0.15 * rng.normal(size=(copies, dim)) / np.sqrt(dim))
    ids = rng.permutation(np.arange(1, n + copies + 1, dtype=np.int64) * 7919)
    return ids, np.concatenate([base, near])


def exact_pairs(ids: np.ndarray, vecs: np.ndarray, floor: float) -> set[tuple[int, int]]:
    sims = vecs @ vecs.T
    a, b = np.nonzero(np.triu(sims >= floor, 1))
    return {(min(x, y), max(x, y)) for x, y in zip(ids[a].tolist(), ids[b].tolist())}


def as_set(p: Pairs) -> set[tuple[int, int]]:
    return set(zip(p.a.tolist(), p.b.tolist()))


@pytest.mark.parametrize("exact_up_to", [100_000, 500])
def test_vector_pairs_are_those_of_brute_force(monkeypatch, exact_up_to):
    """The self-join finds every pair at or above the floor that brute force finds (the near copies
    and the close pairs of the clusters), with their exact cosine, whether it runs as one list or
    as an inverted file (EXACT_UP_TO lowered so that 3,000 photos take the inverted-file path)."""
    monkeypatch.setattr(join, "EXACT_UP_TO", exact_up_to)
    ids, vecs = library(2_500, 500)
    batches = [Batch(ids[s:s + 700], vecs[s:s + 700]) for s in range(0, len(ids), 700)]
    found = find_pairs(batches, len(ids), vecs.shape[1])
    assert len(found) == len(as_set(found))  # each pair once, though found from both photos' rows
    truth = exact_pairs(ids, vecs, 0.75)
    near = {(min(a, b), max(a, b)) for a, b in zip(ids[:500].tolist(), ids[2_500:].tolist())}
    assert near <= truth and near <= as_set(found)
    assert len(as_set(found) & truth) >= 0.99 * len(truth)
    assert as_set(found) <= exact_pairs(ids, vecs, 0.748)  # found from fp16 vectors
    assert len(truth) > 2 * len(near)  # not only the planted copies: close pairs of a cluster too
    pos = {i: k for k, i in enumerate(ids.tolist())}
    expected = np.einsum("ij,ij->i", vecs[[pos[a] for a in found.a.tolist()]], vecs[[pos[b] for b in found.b.tolist()]])
    np.testing.assert_allclose(found.similarity, expected, atol=2e-3)  # vectors pass through fp16


def random_hashes(n: int, planted: int, seed: int = 1) -> np.ndarray:
    """n random 64-bit hashes; hash 2i+1 is hash 2i with 0-9 bits flipped, for i < planted."""
    rng = np.random.default_rng(seed)
    h = rng.integers(-2**63, 2**63 - 1, n, dtype=np.int64)
    for i in range(planted):
        flip = sum(1 << int(b) for b in rng.choice(64, int(rng.integers(0, 10)), replace=False))
        h[2 * i + 1] = np.int64(np.uint64(h[2 * i].view(np.uint64)) ^ np.uint64(flip)).view(np.int64) if flip else h[2 * i]
    return h


def test_hash_pairs_within_seven_bits_are_all_found_and_an_update_finds_what_a_rebuild_does():
    h = random_hashes(4_000, 600)
    valid = np.ones(len(h), bool)
    valid[7] = False  # a photo without a pixel signature is never paired by hash
    a, b, bits = hash_candidates(h, valid, 8)
    d = hamming(h[:, None], h[None, :])
    truth = {(x, y) for x, y in zip(*np.nonzero(np.triu(d <= 7, 1))) if valid[x] and valid[y]}
    got = set(zip(a.tolist(), b.tolist()))
    assert truth <= got
    assert (bits <= 8).all() and np.array_equal(bits, d[a, b])
    assert 7 not in set(a.tolist()) | set(b.tolist())
    new = np.zeros(len(h), bool)
    new[np.random.default_rng(2).choice(len(h), 400, replace=False)] = True
    a2, b2, _ = new_hash_candidates(h, valid, new, 8)
    assert set(zip(a2.tolist(), b2.tolist())) == {p for p in got if new[p[0]] or new[p[1]]}


def smooth_picture(seed: int, size: int = 240) -> Image.Image:
    """A photo-like picture: a few smooth blobs of colour."""
    rng = np.random.default_rng(seed)
    y, x = np.mgrid[0:size, 0:size] / size
    img = np.zeros((size, size, 3))
    for _ in range(6):
        cx, cy, r = rng.uniform(0, 1, 2).tolist() + [rng.uniform(0.1, 0.4)]
        img += rng.uniform(0, 1, 3) * np.exp(-((x - cx) ** 2 + (y - cy) ** 2) / r ** 2)[..., None]
    return Image.fromarray((255 * img / img.max()).astype(np.uint8))


def test_a_crop_matches_its_original_and_a_different_picture_does_not():
    pic = smooth_picture(0)
    crop = pic.crop((30, 12, 30 + 192, 12 + 192)).resize((150, 150))  # 80 %, then made smaller
    t = {name: thumbnail(im) for name, im in [("pic", pic), ("crop", crop), ("other", smooth_picture(1))]}
    assert window_match(t["pic"], (240, 240), t["crop"], (150, 150)) > 0.95
    assert window_match(t["crop"], (150, 150), t["pic"], (240, 240)) > 0.95  # either side may be the crop
    assert window_match(t["pic"], (240, 240), t["other"], (240, 240)) < 0.87
    grey = Image.new("RGB", (240, 240), (20, 20, 20))
    assert window_match(thumbnail(grey), (240, 240), thumbnail(grey), (240, 240)) == 0.0  # flat pictures say nothing
    assert hamming(phash(thumbnail(pic)), phash(thumbnail(pic.convert("L").convert("RGB")))) <= 4


def signed_library(n: int = 1_500, copies: int = 300, seed: int = 0) -> Batch:
    """Vectors with thumbnails: each near copy (as in `library`) has its original's thumbnail,
    lightly re-toned; every other thumbnail is its own picture."""
    ids, vecs = library(n, copies, seed=seed)
    rng = np.random.default_rng(seed)
    thumbs = rng.integers(0, 256, (n, SIDE, SIDE)).astype(np.uint8)
    copied = np.clip(thumbs[:copies].astype(int) * 0.9 + 10, 0, 255).astype(np.uint8)
    return Batch(ids, vecs, np.concatenate([thumbs, copied]), np.full((len(ids), 2), 100.0))


def test_an_update_finds_the_pairs_a_rebuild_finds():
    """Pairs of the first photos, then those the added photos bring (searched with a flat index over
    everything, as the collection's index is by then), equal every pair found at once."""
    lib = signed_library()
    n_old = 1_200
    take = lambda s: Batch(lib.ids[s], lib.vectors[s], lib.thumbs[s], lib.shapes[s])  # noqa: E731
    everything = find_pairs([lib], len(lib.ids), lib.vectors.shape[1])
    assert len(everything) == len(as_set(everything))  # a pair both signals find is kept once
    old = find_pairs([take(slice(0, n_old))], n_old, lib.vectors.shape[1])
    vecs = lib.vectors

    def search(q: np.ndarray, k: int):
        sims = q @ vecs.T
        top = np.argsort(-sims, axis=1)[:, :k]
        return np.take_along_axis(sims, top, 1), lib.ids[top]

    by_id = {i: k for k, i in enumerate(lib.ids.tolist())}
    lookup = lambda ids: take(np.array([by_id[i] for i in ids.tolist()]))  # noqa: E731
    new = find_new_pairs(take(slice(n_old, None)), search, lib.ids, phash(lib.thumbs), np.ones(len(lib.ids), bool), lookup)
    assert as_set(old.concat(new)) == as_set(everything)
    assert len(everything) >= 300


def test_grouping_never_chains_different_photos():
    """A is the same photo as B, B as C, but A not as C: the keeper A gets B, C stays out; D is
    the same as A by its pHash only (a re-toned copy), E by a crop's window match."""
    ids = np.array([1, 2, 3, 4, 5], np.int64)
    pairs = Pairs.of([1, 2, 1, 1], [2, 3, 4, 5], [0.95, 0.95, 0.40, 0.80], [30, 30, 2, 30], [np.nan, np.nan, np.nan, 0.93])
    g = group_ids(pairs, Rule(0.9), ids, np.arange(5))  # rank: 1 is preferred
    members = dict(zip(g.ids.tolist(), g.centre.tolist()))
    assert members == {1: 1, 2: 1, 4: 1, 5: 1}
    how = dict(zip(g.ids.tolist(), g.how.tolist()))
    assert (how[2], how[4], how[5]) == (0, 1, 2)  # vectors, pixels, crop
    # ranked the other way (5 preferred), 5 takes 1; 4, whose only match 1 is taken, stays out; 3 takes 2
    g = group_ids(pairs, Rule(0.9), ids, np.arange(5)[::-1].copy())
    assert dict(zip(g.ids.tolist(), g.centre.tolist())) == {5: 5, 1: 5, 3: 3, 2: 3}
    with pytest.raises(InvalidOptionError):
        Rule(0.5)


def images_table(rows: list[dict]) -> pa.Table:
    full = [{"id": r["id"], "path": r["path"], "root": "/lib", "folder": "", "digest": "", "bytes": r.get("bytes", 1000),
             "mtime": None, "mtime_ns": r.get("mtime_ns", 10**18), "width": r.get("width", 100), "height": r.get("height", 100),
             "taken_at": r.get("taken_at"), "camera": r.get("camera"), "orientation": None, "raw_path": None} for r in rows]
    return pa.Table.from_pylist(full, schema=IMAGES_SCHEMA)


def test_keeper_rule_prefers_the_original_and_says_why():
    day = datetime(2019, 5, 1, 12, 0)
    t = images_table([
        {"id": 1, "path": "export.jpg", "width": 50, "height": 50},
        {"id": 2, "path": "original.jpg", "taken_at": day, "camera": "Canon", "mtime_ns": 2 * 10**18},
        {"id": 3, "path": "stripped.jpg", "mtime_ns": 10**18},
        {"id": 4, "path": "later.jpg", "taken_at": day, "camera": "Canon", "mtime_ns": 3 * 10**18},
        {"id": 5, "path": "copy-of-original.jpg", "taken_at": day, "camera": "Canon", "mtime_ns": 2 * 10**18, "bytes": 900},
    ])
    assert [t.column("path")[i].as_py() for i in file_order(t)] == [
        "original.jpg", "copy-of-original.jpg", "later.jpg", "stripped.jpg", "export.jpg"]
    assert deciding_rule(t, 1, 0) == ("larger picture", "100x100 vs 50x50")
    assert deciding_rule(t, 1, 2)[0] == "more metadata"
    assert deciding_rule(t, 1, 3)[0] == "earlier file time"
    assert deciding_rule(t, 1, 4)[0] == "larger file"
    pairs = Pairs.of([2, 2, 2, 2], [1, 3, 4, 5], [0.95] * 4, [0] * 4)
    (group,) = duplicate_groups(pairs, t)
    assert group.keeper == 1 and group.rule == "larger file"  # the runner-up: the same picture, smaller file
    assert sorted(group.rows) == [0, 1, 2, 3, 4] and group.how[0] == "keeper"


def test_identical_files_form_a_group_of_their_own():
    t = images_table([{"id": 9, "path": "a/x.jpg", "mtime_ns": 2 * 10**18}, {"id": 9, "path": "b/x.jpg", "mtime_ns": 10**18},
                      {"id": 8, "path": "y.jpg"}])
    (group,) = duplicate_groups(Pairs.empty(), t)
    assert group.rows == [1, 0] and group.how == ["keeper", "identical"] and group.rule == "earlier file time"
