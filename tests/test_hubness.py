"""Hubness correction: the formula, its fit on dev, and its use in collection search."""
import numpy as np
import pytest

from vsearch.evaluation.recall import recall_at_k
from vsearch.models.hubness import Hubness, reuse_or_compute
from vsearch.train.hubness import fit


def _unit(x):
    return (x / np.linalg.norm(x, axis=-1, keepdims=True)).astype(np.float32)


def _pairs(rng, n=120, d=32):
    """Images with 5 noisy captions each."""
    concept = _unit(rng.standard_normal((n, d)))
    images = _unit(concept + 0.8 * rng.standard_normal((n, d)) / np.sqrt(d))
    owner = np.repeat(np.arange(n), 5)
    captions = _unit(concept[owner] + 1.2 * rng.standard_normal((len(owner), d)) / np.sqrt(d))
    return images, captions, owner


def test_bias_is_centred_inverted_softmax():
    rng = np.random.default_rng(0)
    texts, images = _unit(rng.standard_normal((50, 8))), _unit(rng.standard_normal((40, 8)))
    h = Hubness(texts, images, beta_t2i=10, lambda_t2i=0.5, beta_i2t=5, lambda_i2t=1.0)
    q = _unit(rng.standard_normal((3, 8)))
    lse = lambda s, b: np.log(np.exp(b * s).sum(1)) / b  # noqa: E731
    texts, images = h.texts, h.images  # the banks as kept (fp16-rounded)
    centre = lse(images @ texts.T, 10).mean()
    np.testing.assert_allclose(h.image_bias(q), -0.5 * (lse(q @ texts.T, 10) - centre), rtol=1e-5, atol=1e-6)
    assert abs(h.image_bias(images).mean()) < 1e-5 and abs(h.text_bias(texts).mean()) < 1e-5


def test_fit_never_makes_dev_worse_and_reports_what_it_reached():
    rng = np.random.default_rng(1)
    ti, tt, towner = _pairs(rng)
    di, dt, downer = _pairs(rng)
    h, dev = fit(ti, tt, towner, di, dt, downer)
    plain = recall_at_k(dt @ di.T, downer)
    for direction in ("text_to_image", "image_to_text"):
        assert dev[direction]["R@1"] >= plain[direction]["R@1"]
    again = recall_at_k(dt @ di.T + h.image_bias(di)[None, :], downer)["text_to_image"]
    assert again["R@1"] == pytest.approx(dev["text_to_image"]["R@1"])
    assert h.texts.shape == (len(ti), ti.shape[1])  # one caption per training image


def test_stored_biases_are_reused_only_for_known_ids():
    calls = []

    def correct(v):
        calls.append(len(v))
        return np.full(len(v), 7.0, dtype=np.float32)

    ids = np.array([3, 5, 9], dtype=np.int64)
    asked = []

    def vectors_of(wanted):
        asked.append(wanted.tolist())
        return np.zeros((len(wanted), 4), np.float32)

    out = reuse_or_compute(correct, ids, vectors_of, (np.array([5]), np.array([1.5], np.float32)))
    assert out.tolist() == [7.0, 1.5, 7.0] and calls == [2] and asked == [[3, 9]]  # only the unknown ones are loaded


def test_sidecar_refuses_another_model(tmp_path):
    from vsearch.errors import CheckpointError
    from vsearch.models.hubness import load_sidecar, sidecar_path

    rng = np.random.default_rng(0)
    h = Hubness(_unit(rng.standard_normal((10, 4))), _unit(rng.standard_normal((10, 4))))
    weights = tmp_path / "m.safetensors"
    h.save(sidecar_path(weights), "fp-a")
    assert load_sidecar(weights, "fp-a").signature == h.signature
    with pytest.raises(CheckpointError, match="another model"):
        load_sidecar(weights, "fp-b")


def _strong_correction(model, seed=0):
    rng = np.random.default_rng(seed)
    d = model.embed_dim
    return Hubness(_unit(rng.standard_normal((64, d))), _unit(rng.standard_normal((64, d))),
                   beta_t2i=10, lambda_t2i=4.0, beta_i2t=10, lambda_i2t=4.0)


def test_collection_search_ranks_by_cosine_plus_stored_bias(photos, home, model, monkeypatch, tmp_path):
    from vsearch import add_texts as vsearch_add_texts, ingest, open_collection

    h = _strong_correction(model)
    monkeypatch.setattr(model, "hubness", h)
    ingest(photos, "c", model=model, rerank_tokens=False)
    col = open_collection("c", model=model)
    ids, vecs, _ = col.store.vectors(model.embed_dim).load()
    stored = col.store.bias("image_bias", h.signature)
    assert set(stored) == set(ids.tolist())
    np.testing.assert_allclose([stored[i] for i in ids.tolist()], h.image_bias(vecs), atol=1e-5)

    changed = 0
    for text in ("a red square", "a dog running on grass", "a blue circle", "people in a city"):
        q = model.encode_texts([text])[0]
        cos = vecs @ q
        want = ids[np.argsort(-(cos + h.image_bias(vecs)), kind="stable")][:5]
        got = [hit.id for hit in col.search(text, k=5)]
        plain = [hit.id for hit in col.search(text, k=5, hubness=False)]
        assert got == want.tolist()
        assert plain == ids[np.argsort(-cos, kind="stable")][:5].tolist()
        changed += got != plain
    assert changed, "a correction this strong must reorder some query"
    # Image queries are not cross-modal: no correction.
    img = photos / "red_square.jpg"
    assert [x.id for x in col.search(image=img, k=5)] == [x.id for x in col.search(image=img, k=5, hubness=False)]

    corpus = ["a red square", "a blue circle", "two dogs play in the snow", "a green field", "a yellow flower"]
    vsearch_add_texts(corpus, "c", model=model)
    assert col.reload()  # the corpus writer committed a new generation
    tv = model.encode_texts(corpus)
    iv = model.encode_images([__import__("PIL.Image", fromlist=["Image"]).open(img)])[0]
    want = [corpus[i] for i in np.argsort(-(tv @ iv + h.text_bias(tv)), kind="stable")]
    assert [t.text for t in col.search_texts(img, k=5)] == want

    # A model without a correction drops the stored one at its next ingest.
    monkeypatch.setattr(model, "hubness", None)
    make = __import__("conftest").make_image
    make(photos / "new" / "green_circle.png", "green", "circle")
    ingest(photos, "c", model=model, rerank_tokens=False)
    col.reload()
    assert col.store.bias("image_bias") == {}
    q = model.encode_texts(["a red square"])[0]
    ids, vecs, _ = col.store.vectors(model.embed_dim).load()
    assert [x.id for x in col.search("a red square", k=5)] == ids[np.argsort(-(vecs @ q), kind="stable")][:5].tolist()


def test_fit_hubness_writes_a_sidecar_the_checkpoint_loads_with(flickr, tmp_path):
    import shutil

    from vsearch.models import load_model
    from vsearch.models.registry import WEIGHTS_DIR
    from vsearch.train.hubness import fit_hubness

    ckpt = tmp_path / "mine.safetensors"
    shutil.copy(WEIGHTS_DIR / "align-lite.safetensors", ckpt)
    assert load_model(str(ckpt)).hubness is None
    h, dev, path = fit_hubness(load_model(str(ckpt)), ckpt, flickr, workers=1, limit=60)
    assert path == tmp_path / "mine.hubness.safetensors" and h.images.shape[0] == 60 == h.texts.shape[0]
    assert 0 <= dev["text_to_image"]["R@1"] <= 100
    loaded = load_model(str(ckpt)).hubness
    assert loaded is not None and loaded.signature == h.signature
