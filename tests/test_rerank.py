"""The ITM reranker: learns to match, and only ever reorders the dual encoder's top k."""
from pathlib import Path

import numpy as np
import pytest
import torch

from vsearch.models import save_checkpoint
from vsearch.models.itm import ITMConfig, ITMHead, load_reranker_file


@pytest.fixture()
def random_reranker(tmp_path):
    torch.manual_seed(0)
    cfg = ITMConfig(width=64, layers=1, heads=2)
    head = ITMHead(cfg)
    path = save_checkpoint(tmp_path / "itm.safetensors", cfg.to_json(), head.state_dict(), {"default_k": 4})
    return load_reranker_file(path)


def test_rerank_only_reorders_the_top_k(photos, home, random_reranker):
    import vsearch

    vsearch.ingest(photos)
    col = vsearch.open_collection(reranker=random_reranker)
    plain = col.search("a red square", mode="semantic", k=8)
    for k in (3, 5):
        rr = col.search("a red square", mode="semantic", k=8, rerank=True, rerank_k=k)
        assert sorted(h.id for h in rr[:k]) == sorted(h.id for h in plain[:k])
        assert [h.id for h in rr[k:]] == [h.id for h in plain[k:]]
        scores = [h.rerank_score for h in rr[:k]]
        assert scores == sorted(scores, reverse=True)
    zero = col.search("a red square", mode="semantic", k=8, rerank=True, rerank_k=0)
    assert [(h.id, h.score) for h in zero] == [(h.id, h.score) for h in plain]
    assert all(h.rerank_score is None for h in zero)


def test_a_file_changed_since_the_ingest_is_not_reranked_as_another_picture(photos, home, random_reranker):
    import vsearch
    from conftest import make_image

    vsearch.ingest(photos, rerank_tokens=False)  # tokens come from the files
    col = vsearch.open_collection(reranker=random_reranker)
    plain = col.search("a red square", mode="semantic", k=8)
    changed = next(h for h in plain[1:4] if len(col.metadata(h.id)) == 1)  # no identical copy elsewhere
    make_image(Path(changed.path), "green", "circle", size=(80, 80))  # same name, other picture
    rr = col.search("a red square", mode="semantic", k=8, rerank=True, rerank_k=4)
    assert sorted(h.id for h in rr[:4]) == sorted(h.id for h in plain[:4])
    assert [h.id for h in rr[3:4]] == [changed.id] and rr[3].rerank_score is None  # left out, after the reranked
    assert all(h.rerank_score is not None for h in rr[:3])
    assert [h.id for h in rr[4:]] == [h.id for h in plain[4:]]


def test_rerank_without_a_reranker_is_a_clear_error(photos, home):
    import vsearch
    from vsearch.errors import QueryError

    vsearch.ingest(photos)
    col = vsearch.open_collection()  # align-lite ships no reranker
    assert col.reranker is None
    with pytest.raises(QueryError, match="no reranker"):
        col.search("x", rerank=True)


@pytest.mark.slow
def test_itm_learns_to_match_on_a_flickr_slice(flickr, tmp_path):
    from vsearch.models.registry import WEIGHTS_DIR

    if not (WEIGHTS_DIR / "align-lite.safetensors").is_file():
        pytest.skip("needs the shipped dual encoder for hard negatives")
    from vsearch.train.itm import ITMTrainConfig, train_itm
    from vsearch.train.itm_data import TokenData, score_pairs
    from vsearch.models.itm import load_reranker_file, locked_towers
    from vsearch.evaluation.pairs import load_pairs

    cfg = ITMTrainConfig(data=flickr, out=tmp_path / "itm", epochs=6, batch_size=32, lr=1e-3, limit_train=200, dev_images=40,
                         width=64, layers=1, workers=1, cache_dir=tmp_path / "cache", dev_k=4)
    r = train_itm(cfg)
    assert r["history"][-1]["loss"] < r["history"][0]["loss"]
    rr = load_reranker_file(r["best"])
    pairs = load_pairs(flickr, "train", 200)
    data = TokenData(locked_towers().build(), pairs, cfg, hflip=True)
    rows = np.arange(0, len(pairs.captions), 5)[:100]
    match = score_pairs(rr.head, data, rows, pairs.caption_image[rows])
    shuffled = score_pairs(rr.head, data, rows, (pairs.caption_image[rows] + 37) % len(pairs.images))
    assert (match > shuffled).mean() > 0.7  # chance is 0.5 over 100 pairs


@pytest.fixture(params=["towers", "aligned"])
def any_reranker(request, tmp_path):
    torch.manual_seed(0)
    extra = {"inputs": "aligned", "dual_encoder": "align-lite"} if request.param == "aligned" else {}
    cfg = ITMConfig(width=64, layers=1, heads=2, **extra)
    head = ITMHead(cfg)
    path = save_checkpoint(tmp_path / "itm.safetensors", cfg.to_json(), head.state_dict(), {"default_k": 4})
    return load_reranker_file(path)


def test_ingest_stores_the_rerank_tokens_a_query_would_compute(photos, home, any_reranker, monkeypatch, tmp_path):
    import vsearch

    import shutil

    random_reranker = any_reranker
    from vsearch.store.tokens import TokenStore

    vsearch.ingest(photos, reranker=random_reranker)
    col = vsearch.open_collection(reranker=random_reranker)
    hits = col.search("a red square", mode="semantic", k=8)
    stored = TokenStore(col.store.folder, random_reranker.fingerprint).lookup([h.id for h in hits])
    assert all(t is not None and t.shape == (64, 64) for t in stored)
    fresh = col.reranking.memory_of_images([h.path for h in hits]).numpy()
    a, b = np.stack(stored).astype(np.float32).reshape(len(hits), -1), fresh.reshape(len(hits), -1)
    cos = (a * b).sum(1) / np.linalg.norm(a, axis=1) / np.linalg.norm(b, axis=1)
    assert cos.min() > 0.99
    with_stored = col.search("a red square", mode="semantic", k=8, rerank=True, rerank_k=8)
    shutil.rmtree(col.store.folder / "rerank-tokens")  # nothing stored: the reranker reads the files
    from_files = vsearch.open_collection(reranker=random_reranker).search("a red square", mode="semantic", k=8, rerank=True, rerank_k=8)
    assert [h.id for h in with_stored] == [h.id for h in from_files]
    assert np.allclose([h.rerank_score for h in with_stored], [h.rerank_score for h in from_files], atol=0.05)


def test_listwise_groups_never_use_a_caption_of_the_same_image_as_a_negative():
    from pathlib import Path

    from vsearch.train.itm import ITMTrainConfig
    from vsearch.train.itm_data import hard_negatives, listwise_groups

    rng = np.random.default_rng(0)
    n_img = 30
    owner = np.repeat(np.arange(n_img), 5)
    sim = rng.normal(size=(len(owner), n_img)).astype(np.float32)
    sim[np.arange(len(owner)), owner] += 3.0
    img_neg, txt_neg = hard_negatives(sim, owner, 8)
    caps_of = [np.flatnonzero(owner == i) for i in range(n_img)]
    cfg = ITMTrainConfig(data=Path("."), out=Path("."), group=8, random_in_group=2)
    rows = rng.choice(len(owner), 20, replace=False)
    t_rows, i_rows = listwise_groups(rows, owner, img_neg, txt_neg, caps_of, n_img, cfg, rng)
    assert t_rows.shape == i_rows.shape == (40, 8)
    assert (owner[t_rows[:, 0]] == i_rows[:, 0]).all()            # the correct pair comes first
    assert (owner[t_rows[:, 1:]] != i_rows[:, 1:]).all()          # every other pair is a real mismatch
