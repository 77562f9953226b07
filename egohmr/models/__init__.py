"""Networks: image backbones, scene encoder, conditional flow and heads (see docs/models_stage1.md)."""

from __future__ import annotations

from typing import Literal

from torch import nn

from egohmr.models.efficientnet_lite import EfficientNetLite0, load_pretrained_efficientnet_lite0
from egohmr.models.resnet import ResNet50

__all__ = ["BackboneName", "build_backbone"]

BackboneName = Literal["resnet50", "efficientnet_lite0"]


def build_backbone(name: BackboneName, pretrained: bool) -> tuple[nn.Module, int]:
    """Build an image backbone mapping (B, 3, H, W) ImageNet-normalised RGB to (B, feat_dim) features.

    Args:
        name: ``"resnet50"`` (official stage-1/2 backbone, 2048-d, official key layout) or ``"efficientnet_lite0"``
            (1280-d, offline ImageNet weights).
        pretrained: load ImageNet weights. Only available for ``"efficientnet_lite0"`` (no ResNet-50 ImageNet
            weights can be had offline: load a checkpoint's ``backbone.*`` keys instead).

    Returns:
        (module, feat_dim).

    Raises:
        ValueError: unknown name, or ``pretrained=True`` for ResNet-50.
        ImportError: ``efficientnet_lite0`` with ``pretrained=True`` and the weight package missing.
    """
    if name == "resnet50":
        if pretrained:
            raise ValueError(
                "backbone 'resnet50' has no offline ImageNet weights: use pretrained=False and load a checkpoint's "
                "'backbone.*' weights (official EgoHMR or ProHMR checkpoint), or choose 'efficientnet_lite0'"
            )
        return ResNet50(), ResNet50.feat_dim
    if name == "efficientnet_lite0":
        model = load_pretrained_efficientnet_lite0() if pretrained else EfficientNetLite0()
        return model, EfficientNetLite0.feat_dim
    raise ValueError(f"unknown backbone {name!r}; expected one of 'resnet50', 'efficientnet_lite0'")
