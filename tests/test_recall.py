import numpy as np
import pytest

from vsearch.evaluation.recall import recall_at_k


def reference(sim, caption_image, k):
    """Brute force: sort each row with ties resolved against the query (negatives first)."""
    n_t, n_i = sim.shape
    t2i = []
    for t in range(n_t):
        order = sorted(range(n_i), key=lambda i: (-sim[t, i], i == caption_image[t]))
        t2i.append(caption_image[t] in order[:k])
    i2t = []
    for i in range(n_i):
        pos = {t for t in range(n_t) if caption_image[t] == i}
        order = sorted(range(n_t), key=lambda t: (-sim[t, i], t in pos))
        i2t.append(bool(pos & set(order[:k])))
    return 100 * np.mean(t2i), 100 * np.mean(i2t)


@pytest.mark.parametrize("seed", range(6))
def test_recall_matches_brute_force_with_ties(seed):
    rng = np.random.default_rng(seed)
    n_img = int(rng.integers(3, 12))
    caption_image = np.repeat(np.arange(n_img), rng.integers(1, 6, size=n_img))
    # Small integer scores make many ties.
    sim = rng.integers(0, 4, size=(len(caption_image), n_img)).astype(np.float32)
    r = recall_at_k(sim, caption_image, ks=(1, 2, 5))
    for k in (1, 2, 5):
        t2i, i2t = reference(sim, caption_image, k)
        assert r["text_to_image"][f"R@{k}"] == pytest.approx(t2i)
        assert r["image_to_text"][f"R@{k}"] == pytest.approx(i2t)


def test_perfect_and_reversed_scores():
    caption_image = np.array([0, 0, 1, 1, 2])
    sim = np.eye(3)[caption_image]
    r = recall_at_k(sim, caption_image)
    assert r["text_to_image"]["R@1"] == 100 and r["image_to_text"]["R@1"] == 100
    r = recall_at_k(-sim, caption_image)
    assert r["text_to_image"]["R@1"] == 0


def test_all_tied_counts_as_miss_at_1():
    caption_image = np.array([0, 1, 2])
    r = recall_at_k(np.zeros((3, 3)), caption_image)
    assert r["text_to_image"]["R@1"] == 0
    assert r["text_to_image"]["R@5"] == 100
