"""`vsearch train`, `fit-hubness`, `calibrate-int8` and `train-itm`: training the models."""
from __future__ import annotations

from pathlib import Path
from typing import Any, Optional

import typer

from .common import JsonOpt, bars, handles_errors, out, print_json


@handles_errors
def train(
    data: Path = typer.Argument(..., help="Pairs folder: images/, captions.csv (image,caption), splits/train.txt and dev.txt."),
    out_dir: Path = typer.Option(Path("runs/train"), "--out", help="Where checkpoints go (last/best.safetensors)."),
    preset: Optional[str] = typer.Option(None, help="Settings of a shipped model, e.g. align-lite (reproduces it)."),
    model: str = typer.Option("align-lite", "--model", "-m", help="Architecture: align-lite[-l0|-l2], openclip:<arch>[/<tag>]."),
    mode: str = typer.Option("partial", help="heads (towers locked), partial (last stages tuned), lit (image locked, text tuned), full."),
    loss: str = typer.Option("clip", help="clip, align (label-smoothed) or siglip."),
    epochs: int = typer.Option(10, min=1),
    batch_size: int = typer.Option(256, min=2),
    lr: float = typer.Option(1e-3, help="Learning rate of heads (and whole model for end-to-end training)."),
    tail_lr: float = typer.Option(1e-4, help="Learning rate of tuned tower layers."),
    image_tail_stages: Optional[int] = typer.Option(None, help="EfficientNet stages to tune (align-lite)."),
    text_tail_layers: Optional[int] = typer.Option(None, help="MiniLM layers to tune (align-lite)."),
    image_pool_heads: Optional[int] = typer.Option(None, help="align-lite: learned attention pooling over the image feature map with this many channel groups (default: mean pooling)."),
    limit_train: Optional[int] = typer.Option(None, help="Use only the first N training images."),
    limit_dev: Optional[int] = typer.Option(None, help="Use only the first N dev images."),
    seed: int = typer.Option(0),
    resume: bool = typer.Option(False, "--resume", help="Continue from <out>/last.state.safetensors."),
    workers: Optional[int] = typer.Option(None, min=0, help="Decode worker processes."),
    device: Optional[str] = typer.Option(None, help="cpu or cuda (default: cuda when there is one)."),
    hubness: bool = typer.Option(True, "--hubness/--no-hubness", help="After training, fit the best checkpoint's hubness correction (as `vsearch fit-hubness`)."),
    as_json: bool = JsonOpt,
) -> None:
    """Train a dual encoder on image-caption pairs; the best epoch on dev is kept as best.safetensors."""
    from ..models import resolve
    from ..train.loop import TrainConfig, preset as get_preset, train as run

    settings: dict[str, Any] = dict(model=model, mode=mode, loss=loss, epochs=epochs, batch_size=batch_size, lr=lr,
                                    tail_lr=tail_lr, image_tail_stages=image_tail_stages, text_tail_layers=text_tail_layers,
                                    image_pool_heads=image_pool_heads)
    if preset:
        settings = {"model": model, **get_preset(preset)}
    cfg = TrainConfig(data=data, out=out_dir, limit_train=limit_train, limit_dev=limit_dev, seed=seed,
                      resume=resume, workers=workers, device=device, **settings)
    resolve(cfg.model)
    with bars(not as_json) as progress:
        r = run(cfg, progress=progress)
        corrected = (_fit_hubness(str(r.best_checkpoint), data, workers, progress)
                     if hubness and limit_train is None else None)
    if as_json:
        print_json({"best": str(r.best_checkpoint), "best_epoch": r.best_epoch, "best_dev": r.best_dev, "history": r.history,
                    "hubness_dev": corrected})
    else:
        out.print(f"best epoch {r.best_epoch}: dev R@1 text->image {r.best_dev['text_to_image']['R@1']:.1f}, "
                  f"image->text {r.best_dev['image_to_text']['R@1']:.1f} -> {r.best_checkpoint}")
        if corrected:
            _print_hubness(corrected)


def _fit_hubness(model_name: str, data: Path, workers: Optional[int], progress) -> dict:
    from ..errors import VsearchError
    from ..models import load_model, resolve
    from ..train.hubness import fit_hubness

    spec = resolve(model_name)
    if spec.weights is None:
        raise VsearchError(f"{model_name!r} has no weights file to fit a hubness correction for")
    h, dev, path = fit_hubness(load_model(model_name), spec.weights, data, workers=workers, progress=progress)
    return {"path": str(path), **dev, "params": [h.beta_t2i, h.lambda_t2i, h.beta_i2t, h.lambda_i2t]}


def _print_hubness(r: dict) -> None:
    b1, l1, b2, l2 = r["params"]
    out.print(f"hubness correction -> {r['path']}: dev R@1 text->image {r['text_to_image']['R@1']:.1f} "
              f"(beta {b1:g}, lambda {l1:g}), image->text {r['image_to_text']['R@1']:.1f} (beta {b2:g}, lambda {l2:g})")


@handles_errors
def fit_hubness_cmd(
    data: Path = typer.Argument(..., help="Pairs folder with train and dev splits (the Flickr8k layout)."),
    model: str = typer.Option("align-lite", "--model", "-m", help="Registered model or checkpoint path."),
    workers: Optional[int] = typer.Option(None, min=0, help="Decode worker processes."),
    as_json: bool = JsonOpt,
) -> None:
    """Fit a model's hubness correction: banks of its train-split image and caption vectors, the
    strength chosen on dev R@1. Saved beside the weights as <weights>.hubness.safetensors; search
    and eval use it from then on (collections pick it up at their next ingest)."""
    with bars(not as_json) as progress:
        r = _fit_hubness(model, data, workers, progress)
    if as_json:
        print_json(r)
    else:
        _print_hubness(r)



@handles_errors
def calibrate_int8_cmd(
    data: Path = typer.Argument(..., help="Pairs folder with a train split (the Flickr8k layout); only train photos are read."),
    model: str = typer.Option("align-lite", "--model", "-m", help="Registered model or checkpoint path."),
    photos: int = typer.Option(256, min=16, help="Training photos to measure activation ranges on."),
    seed: int = typer.Option(0, help="Which training photos (a seeded random draw)."),
    workers: Optional[int] = typer.Option(None, min=0, help="Decode worker processes."),
    as_json: bool = JsonOpt,
) -> None:
    """Calibrate a model's int8 image encoder (`--precision int8`): activation ranges of its ONNX
    image graphs over training photos, saved beside the weights as <weights>.int8.json. Every
    machine then quantises its own export with these ranges, so int8 ingests and image queries
    agree without the photos."""
    from ..errors import VsearchError
    from ..models import load_model, resolve
    from ..train.int8 import calibrate_int8

    spec = resolve(model)
    if spec.weights is None:
        raise VsearchError(f"{model!r} has no weights file to calibrate int8 encoding for")
    with bars(not as_json) as progress:
        path, about = calibrate_int8(load_model(model), spec.weights, data, photos, seed, workers, progress)
    if as_json:
        print_json({"path": str(path), **about})
    else:
        out.print(f"int8 calibration -> {path}: {about['tensors']} activation ranges from {about['photos']} "
                  f"{about['split']} photos (seed {about['seed']})")

@handles_errors
def train_itm(
    data: Path = typer.Argument(..., help="Pairs folder in the Flickr8k layout (train split to learn, dev split to choose)."),
    out_dir: Path = typer.Option(Path("runs/itm"), "--out", help="Where checkpoints go (last/best.safetensors)."),
    dual_encoder: str = typer.Option("align-lite", "--dual-encoder", help="Model whose top hits are reranked; it mines the hard negatives."),
    style: str = typer.Option("cross", help="cross (ALBEF-style text-to-image cross-attention) or single (one stream)."),
    layers: int = typer.Option(2, min=1, help="Fusion transformer layers."),
    width: int = typer.Option(256, min=8, help="Fusion transformer width (compute grows with its square)."),
    objective: str = typer.Option("bce", help="bce (binary match loss, ALBEF ITM) or listwise (softmax over the correct pair and hard/random wrong ones, on top of the dual score)."),
    group: int = typer.Option(8, min=2, help="listwise: candidates per query, the correct one included."),
    hard_pool: int = typer.Option(16, min=1, help="Hard negatives come from the dual encoder's top N wrong matches..."),
    hard_skip: int = typer.Option(0, min=0, help="...after skipping its first few (often unlabelled true matches)."),
    inputs: str = typer.Option("towers", help="towers (raw tower outputs) or aligned (token vectors through the dual encoder's own projection heads, plus a late-interaction term)."),
    epochs: int = typer.Option(5, min=1),
    batch_size: int = typer.Option(96, min=2, help="Positive pairs per step (each with 2 hard and some random negatives)."),
    lr: float = typer.Option(3e-4),
    seed: int = typer.Option(0),
    resume: bool = typer.Option(False, "--resume", help="Continue from <out>/last.state.safetensors."),
    as_json: bool = JsonOpt,
) -> None:
    """Train the ITM reranker (image-text matching cross-encoder) on image-caption pairs."""
    from ..models import resolve
    from ..train.itm import ITMTrainConfig, train_itm as run

    cfg = ITMTrainConfig(data=data, out=out_dir, dual_encoder=dual_encoder, style=style, layers=layers, width=width,
                         objective=objective, group=group, inputs=inputs, hard_pool=hard_pool, hard_skip=hard_skip,
                         epochs=epochs, batch_size=batch_size, lr=lr, seed=seed, resume=resume)
    resolve(dual_encoder)
    with bars(not as_json) as progress:
        r = run(cfg, progress=progress)
    if as_json:
        print_json(r)
    else:
        out.print(f"best reranker: {r['best']}")
