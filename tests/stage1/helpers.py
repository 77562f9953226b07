"""Tiny stage-1 configs, random batches and random body models for the stage-1 tests."""

from __future__ import annotations

import numpy as np
import torch

from egohmr.geometry.rotations import axis_angle_to_rotmat
from egohmr.stage1.config import LossWeights, Stage1ModelConfig
from egohmr.stage1.model import ProHMRScene
from tests.body import random_body_model


def tiny_model_config(**changes) -> Stage1ModelConfig:
    """EfficientNet-Lite0 (random init, not frozen), 8-wide PointNet, 32-wide flow: fast on one core."""
    base = dict(
        backbone="efficientnet_lite0",
        backbone_pretrained=False,
        scene_feat_dim=16,
        scene_hidden_dim=8,
        scene_num_blocks=2,
        num_scene_points=64,
        flow_hidden=32,
        flow_num_layers=2,
        flow_blocks_per_layer=1,
        head_hidden=32,
        num_train_samples=3,
        num_test_samples=4,
        body_model="open-lowres",
    )
    base.update(changes)
    return Stage1ModelConfig(**base)


def tiny_model(seed: int = 0, weights: LossWeights | None = None, **changes) -> ProHMRScene:
    """A tiny ProHMRScene with random 240-vertex body models attached."""
    torch.manual_seed(seed)
    model = ProHMRScene(tiny_model_config(**changes), weights)
    rng = np.random.default_rng(seed)
    model.attach_body_models(random_body_model(rng), random_body_model(rng), random_body_model(rng))
    return model


def random_batch(batch_size: int, seed: int = 0, num_points: int = 64, image: bool = True) -> dict[str, torch.Tensor]:
    """A collated stage-1 batch with plausible geometry (`SAMPLE_FIELDS` keys)."""
    g = torch.Generator().manual_seed(seed)
    b = batch_size
    aa = 0.3 * torch.randn(b, 24, 3, generator=g)
    rot = axis_angle_to_rotmat(aa)
    transl = torch.stack(
        [0.3 * torch.randn(b, generator=g), 0.2 * torch.randn(b, generator=g), 2.5 + torch.rand(b, generator=g)], 1
    )
    fx = 1450.0 + 50.0 * torch.rand(b, generator=g)
    kp = torch.cat([960 + 200 * torch.randn(b, 25, 2, generator=g), torch.rand(b, 25, 1, generator=g)], -1)
    joints = transl[:, None] + 0.4 * torch.randn(b, 24, 3, generator=g)
    batch = {
        "index": torch.arange(b),
        "img_size_px": torch.tensor([[1920.0, 1080.0]]).repeat(b, 1),
        "kp2d_op25_full_px": kp,
        "joints3d_pv": joints,
        "global_orient_rotmat_pv": rot[:, 0],
        "body_pose_rotmat": rot[:, 1:],
        "betas": 0.5 * torch.randn(b, 10, generator=g),
        "transl_pv": transl,
        "gender": torch.arange(b) % 2,
        "fx": fx,
        "fy": fx,
        "cx": torch.full((b,), 960.0),
        "cy": torch.full((b,), 540.0),
        "bbox_center_px": 960 + 100 * torch.randn(b, 2, generator=g),
        "bbox_size_px": 300 + 100 * torch.rand(b, generator=g),
        "scene_points_pv": torch.randn(b, num_points, 3, generator=g) + torch.tensor([0.0, 0.0, 3.0]),
    }
    if image:
        batch["img_crop"] = torch.randn(b, 3, 64, 64, generator=g)
    return batch
