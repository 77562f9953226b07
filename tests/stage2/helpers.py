"""Tiny stage-2 fixtures: a closed "ball body" (one icosahedron per joint), a tiny config and a synthetic batch."""

from __future__ import annotations

import math

import numpy as np
import torch

from egohmr.body import BodyModel
from egohmr.constants import LANDMARK_NAMES, NUM_SMPL_JOINTS, SMPL_PARENTS
from egohmr.geometry.rotations import axis_angle_to_rotmat
from egohmr.stage2.config import Stage2Config, Stage2DataConfig, Stage2ModelConfig, Stage2TrainOptions
from tests.body import _OFFSETS

FEAT_DIM = 1280  # EfficientNet-Lite0 features (the tiny config's backbone; tests feed cached features)
LOWER_LEG_RADIUS = 0.08


def icosahedron() -> tuple[np.ndarray, np.ndarray]:
    """Unit icosahedron: (12, 3) vertices, (20, 3) outward-wound faces."""
    p = (1 + math.sqrt(5)) / 2
    v = np.array([[-1, p, 0], [1, p, 0], [-1, -p, 0], [1, -p, 0], [0, -1, p], [0, 1, p],
                  [0, -1, -p], [0, 1, -p], [p, 0, -1], [p, 0, 1], [-p, 0, -1], [-p, 0, 1]], float)  # fmt: skip
    f = np.array([[0, 11, 5], [0, 5, 1], [0, 1, 7], [0, 7, 10], [0, 10, 11], [1, 5, 9], [5, 11, 4], [11, 10, 2],
                  [10, 7, 6], [7, 1, 8], [3, 9, 4], [3, 4, 2], [3, 2, 6], [3, 6, 8], [3, 8, 9], [4, 9, 5],
                  [2, 4, 11], [6, 2, 10], [8, 6, 7], [9, 8, 1]])  # fmt: skip
    return v / np.linalg.norm(v, axis=1, keepdims=True), f


def rest_joints() -> np.ndarray:
    """(24, 3) rest joints of the test body (metres, SMPL local frame, y up, pelvis at the origin)."""
    joints = np.zeros((NUM_SMPL_JOINTS, 3))
    for j, p in enumerate(SMPL_PARENTS):
        joints[j] = _OFFSETS[j] + (joints[p] if p >= 0 else 0.0)
    return joints - joints[0]


def ball_body(gender: str = "neutral") -> BodyModel:
    """A closed body: one icosahedron per joint (radius 8 cm on the legs, 5 cm elsewhere), rigid to its joint."""
    unit, faces1 = icosahedron()
    joints = rest_joints()
    verts, faces, weights = [], [], []
    for j in range(NUM_SMPL_JOINTS):
        radius = LOWER_LEG_RADIUS if j in (4, 5, 7, 8) else 0.05
        verts.append(joints[j] + radius * unit)
        faces.append(faces1 + 12 * j)
        w = np.zeros((12, NUM_SMPL_JOINTS))
        w[:, j] = 1.0
        weights.append(w)
    v = np.concatenate(verts)
    num_v = v.shape[0]
    regressor = np.zeros((NUM_SMPL_JOINTS, num_v))
    for j in range(NUM_SMPL_JOINTS):
        regressor[j, 12 * j : 12 * (j + 1)] = 1.0 / 12
    rng = np.random.default_rng(0)
    return BodyModel(
        v_template=v,
        shapedirs=rng.normal(0, 1e-3, (num_v, 3, 10)),
        posedirs=np.zeros((num_v, 3, 207)),
        j_regressor=regressor,
        lbs_weights=np.concatenate(weights),
        parents=np.array(SMPL_PARENTS),
        faces=np.concatenate(faces),
        landmark_vertex_ids=np.arange(len(LANDMARK_NAMES)) * 12,
        gender=gender,
    )


def tiny_config(**train_options) -> Stage2Config:
    """A tiny stage-2 config (cached features, tiny PointNet and GCN)."""
    return Stage2Config(
        model=Stage2ModelConfig(
            backbone="efficientnet_lite0",
            freeze_backbone=True,
            image_features="cached",
            scene_feat_dim=32,
            scene_hidden_dim=16,
            num_scene_points=64,
            transl_dim=16,
            latent_dim=16,
            gcn_hidden=32,
            gcn_blocks=1,
        ),
        data=Stage2DataConfig(augment=False),
        train_options=Stage2TrainOptions(**train_options),
    )


def tiny_model(cfg: Stage2Config | None = None, seed: int = 0):
    from egohmr.stage2.model import EgoHMRModel

    torch.manual_seed(seed)
    model = EgoHMRModel(cfg or tiny_config())
    rng = np.random.default_rng(seed)
    model.set_norm_stats(rng.normal(0, 0.1, 144), np.r_[np.full(6, 0.5), np.full(138, 0.3)])
    model.set_body_models(ball_body(), ball_body("male"), ball_body("female"))
    return model


def synthetic_batch(batch_size: int = 3, num_points: int = 200, seed: int = 0) -> dict[str, torch.Tensor]:
    """A collated stage-2 batch (SAMPLE_FIELDS keys plus cached ``img_feat``), float32."""
    g = torch.Generator().manual_seed(seed)
    B = batch_size
    go = axis_angle_to_rotmat(torch.tensor([math.pi, 0.0, 0.0]) + 0.2 * torch.randn(B, 3, generator=g))
    bp = axis_angle_to_rotmat(0.2 * torch.randn(B, 23, 3, generator=g))
    transl = torch.tensor([0.0, 0.2, 3.0]) + 0.1 * torch.randn(B, 3, generator=g)
    body = ball_body()
    joints = body(torch.zeros(B, 10), go, bp, transl).joints
    fx = torch.full((B,), 1450.0)
    cx, cy = torch.full((B,), 960.0), torch.full((B,), 540.0)
    kp = torch.cat([torch.rand(B, 25, 2, generator=g) * torch.tensor([1920.0, 1080.0]), torch.ones(B, 25, 1)], -1)
    kp[:, 3:6, 2] = 0.0
    vis = torch.ones(B, 24, dtype=torch.bool)
    vis[:, [7, 8, 10, 11]] = False
    return {
        "index": torch.arange(B),
        "img_feat": torch.rand(B, FEAT_DIM, generator=g),
        "img_size_px": torch.tensor([[1920.0, 1080.0]]).expand(B, 2).clone(),
        "kp2d_op25_full_px": kp,
        "joints3d_pv": joints,
        "global_orient_rotmat_pv": go,
        "body_pose_rotmat": bp,
        "betas": 0.1 * torch.randn(B, 10, generator=g),
        "transl_pv": transl,
        "transl_stage1_pv": transl + 0.05,
        "gender": torch.arange(B) % 2,
        "fx": fx,
        "fy": fx.clone(),
        "cx": cx,
        "cy": cy,
        "bbox_center_px": torch.tensor([[960.0, 540.0]]).expand(B, 2).clone(),
        "bbox_size_px": torch.full((B,), 600.0),
        "vis_smpl24": vis,
        "scene_points_pv": transl[:, None] + (torch.rand(B, num_points, 3, generator=g) * 2 - 1),
    }
