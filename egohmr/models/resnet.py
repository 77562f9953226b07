"""ResNet-50 image backbone in the torchvision / official key layout (reference-egohmr.md sections 2 and 6).

Architecture (input (B, 3, 224, 224) ImageNet-normalised RGB -> (B, 2048)):

    conv1 7x7/2 (3 -> 64), bn1, ReLU, maxpool 3x3/2                       -> (B,   64, 56, 56)
    layer1: 3 Bottlenecks (64 -> 256), stride 1                           -> (B,  256, 56, 56)
    layer2: 4 Bottlenecks (256 -> 512), stride 2 in the first block       -> (B,  512, 28, 28)
    layer3: 6 Bottlenecks (512 -> 1024), stride 2                         -> (B, 1024, 14, 14)
    layer4: 3 Bottlenecks (1024 -> 2048), stride 2                        -> (B, 2048,  7,  7)
    global average pool                                                   -> (B, 2048)

Bottleneck (expansion 4): 1x1 conv (bn, ReLU), 3x3 conv carrying the stride (bn, ReLU), 1x1 conv (bn), plus the
identity or ``downsample`` = (1x1 conv with the stride, bn); ReLU after the sum. No fc layer.

State-dict keys: ``conv1.weight``, ``bn1.*``, ``layer{1..4}.{i}.{conv1,conv2,conv3}.weight``,
``layer{1..4}.{i}.{bn1,bn2,bn3}.*``, ``layer{1..4}.0.downsample.{0,1}.*``: 23,508,032 parameters. Official
checkpoints (EgoHMR stage 1 and 2, ProHMR) carry the prefix ``backbone.``.
"""

from __future__ import annotations

import torch
from torch import nn

__all__ = ["RESNET50_NUM_PARAMS", "Bottleneck", "ResNet50"]

RESNET50_NUM_PARAMS = 23_508_032


class Bottleneck(nn.Module):
    """ResNet bottleneck block with the stride on the 3x3 convolution (torchvision "v1.5").

    Args:
        in_channels: input channels.
        width: bottleneck width; the output has ``4 * width`` channels.
        stride: spatial stride of the block.
    """

    expansion = 4

    def __init__(self, in_channels: int, width: int, stride: int = 1) -> None:
        super().__init__()
        out_channels = width * self.expansion
        self.conv1 = nn.Conv2d(in_channels, width, kernel_size=1, bias=False)
        self.bn1 = nn.BatchNorm2d(width)
        self.conv2 = nn.Conv2d(width, width, kernel_size=3, stride=stride, padding=1, bias=False)
        self.bn2 = nn.BatchNorm2d(width)
        self.conv3 = nn.Conv2d(width, out_channels, kernel_size=1, bias=False)
        self.bn3 = nn.BatchNorm2d(out_channels)
        self.relu = nn.ReLU(inplace=True)
        self.downsample: nn.Module | None = None
        if stride != 1 or in_channels != out_channels:
            self.downsample = nn.Sequential(
                nn.Conv2d(in_channels, out_channels, kernel_size=1, stride=stride, bias=False),
                nn.BatchNorm2d(out_channels),
            )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """(B, C_in, H, W) -> (B, 4 width, H / stride, W / stride)."""
        out = self.relu(self.bn1(self.conv1(x)))
        out = self.relu(self.bn2(self.conv2(out)))
        out = self.bn3(self.conv3(out))
        identity = x if self.downsample is None else self.downsample(x)
        return self.relu(out + identity)


class ResNet50(nn.Module):
    """ResNet-50 feature extractor with global average pooling, randomly initialised.

    Weights are loaded by key (``load_state_dict``), e.g. from an official checkpoint's ``backbone.*`` entries.

    Args:
        layers: blocks per stage (ResNet-50: (3, 4, 6, 3)).
    """

    feat_dim = 2048

    def __init__(self, layers: tuple[int, int, int, int] = (3, 4, 6, 3)) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(3, 64, kernel_size=7, stride=2, padding=3, bias=False)
        self.bn1 = nn.BatchNorm2d(64)
        self.relu = nn.ReLU(inplace=True)
        self.maxpool = nn.MaxPool2d(kernel_size=3, stride=2, padding=1)
        in_channels = 64
        for stage, (num_blocks, width) in enumerate(zip(layers, (64, 128, 256, 512), strict=True)):
            stride = 1 if stage == 0 else 2
            blocks = []
            for i in range(num_blocks):
                blocks.append(Bottleneck(in_channels, width, stride if i == 0 else 1))
                in_channels = width * Bottleneck.expansion
            self.add_module(f"layer{stage + 1}", nn.Sequential(*blocks))
        self._init_weights()

    def _init_weights(self) -> None:
        # He-normal (fan_out) convolutions, BatchNorm at identity: the usual ResNet initialisation.
        for m in self.modules():
            if isinstance(m, nn.Conv2d):
                nn.init.kaiming_normal_(m.weight, mode="fan_out", nonlinearity="relu")
            elif isinstance(m, nn.BatchNorm2d):
                nn.init.ones_(m.weight)
                nn.init.zeros_(m.bias)

    def forward_map(self, images: torch.Tensor) -> torch.Tensor:
        """Feature map before pooling: (B, 3, H, W) -> (B, 2048, H / 32, W / 32)."""
        x = self.maxpool(self.relu(self.bn1(self.conv1(images))))  # (B, 64, H/4, W/4)
        x = self.layer1(x)  # (B, 256, H/4, W/4)
        x = self.layer2(x)  # (B, 512, H/8, W/8)
        x = self.layer3(x)  # (B, 1024, H/16, W/16)
        return self.layer4(x)  # (B, 2048, H/32, W/32)

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        """Global image feature.

        Args:
            images: (B, 3, H, W) float, ImageNet-normalised RGB crop (official 224 x 224).

        Returns:
            (B, 2048) float, global-average-pooled layer4 features (non-negative).
        """
        if images.ndim != 4 or images.shape[1] != 3:
            raise ValueError(f"images must have shape (B, 3, H, W), got {tuple(images.shape)}")
        return self.forward_map(images).mean(dim=(2, 3))
