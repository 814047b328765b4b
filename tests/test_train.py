import numpy as np
import pytest
import torch

from conftest import COLORS, make_image
from vsearch.train import losses
from vsearch.train.loop import TrainConfig, train


def test_captions_of_one_image_are_not_negatives():
    img = torch.nn.functional.normalize(torch.randn(3, 8), dim=-1)
    txt = img[[0, 0, 1, 2]]  # two captions of image 0, identical to it
    img_rows = img[[0, 0, 1, 2]]
    ids = torch.tensor([0, 0, 1, 2])
    scale = torch.tensor(np.log(100.0))
    masked = losses.clip_loss(img_rows, txt, scale, ids, ids)
    unmasked = losses.clip_loss(img_rows, txt, scale, torch.arange(4), torch.arange(4))
    assert masked < 0.05 < unmasked  # without the mask the twin caption is a hard "negative"
    s = losses.siglip_loss(img_rows, txt, scale, torch.tensor(-5.0), ids, ids)
    assert torch.isfinite(s)


@pytest.fixture()
def pairs_dir(tmp_path):
    """Generated image-caption pairs in the Flickr8k layout."""
    root = tmp_path / "pairs"
    rows, names = [], []
    rng = np.random.default_rng(0)
    for i in range(48):
        color = list(COLORS)[i % 4]
        shape = "circle" if (i // 4) % 2 else "square"
        name = f"{i:03d}.png"
        make_image(root / "images" / name, color, shape, size=(int(rng.integers(40, 80)), 48))
        names.append(name)
        rows += [(name, f"a {color} {shape}"), (name, f"{shape} coloured {color}")]
    (root / "captions.csv").write_text("image,caption\n" + "\n".join(f"{a},{b}" for a, b in rows))
    (root / "splits").mkdir()
    (root / "splits" / "train.txt").write_text("\n".join(names[:40]))
    (root / "splits" / "dev.txt").write_text("\n".join(names[40:]))
    return root


@pytest.mark.parametrize("loss", ["clip", "siglip"])
def test_tiny_openclip_trains_and_loss_falls(pairs_dir, tmp_path, loss):
    cfg = TrainConfig(data=pairs_dir, out=tmp_path / "run", model="openclip:vsearch-tiny", mode="full", loss=loss,
                      epochs=8, batch_size=16, lr=2e-3, warmup_steps=2, workers=0, hflip=False)
    r = train(cfg)
    first, last = r.history[0]["loss"], r.history[-1]["loss"]
    assert last < 0.8 * first
    assert r.best_checkpoint.is_file() and (tmp_path / "run" / "last.state.safetensors").is_file()

    from vsearch.models import load_model

    m = load_model(str(r.best_checkpoint))
    assert m.encode_texts(["a red square"]).shape == (1, 64)


def test_resume_continues_from_last_epoch(pairs_dir, tmp_path):
    base = dict(data=pairs_dir, out=tmp_path / "run", model="openclip:vsearch-tiny", mode="full", batch_size=16,
                warmup_steps=2, workers=0, hflip=False)
    train(TrainConfig(**base, epochs=2))
    r = train(TrainConfig(**base, epochs=4, resume=True))
    assert [h["epoch"] for h in r.history] == [1, 2, 3, 4]
