"""Optional adversarial pose prior of stage 1: the HMR discriminator and the CMU mocap reader.

`PoseDiscriminator` keeps the official key layout (`discriminator.*` in `checkpoints_egohmr/53618/best_model.pt`,
reference-egohmr.md section 6): per-joint 1x1 convolutions over the 23 body rotation matrices (`D_conv1`, `D_conv2`),
one linear output per joint (`pose_out.{0..22}`), a betas branch (`betas_fc1`, `betas_fc2`, `betas_out`) and an
all-joints branch (`D_alljoints_fc1/fc2/out`). Its 25 outputs are trained with least-squares GAN losses.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch
from torch import nn

from egohmr.constants import NUM_BETAS, NUM_BODY_JOINTS

__all__ = ["PoseDiscriminator", "load_mocap"]


class PoseDiscriminator(nn.Module):
    """HMR-style discriminator over body-pose rotation matrices and betas.

    Args:
        num_joints: body joints J' (23).
        num_betas: shape coefficients (10).
    """

    def __init__(self, num_joints: int = NUM_BODY_JOINTS, num_betas: int = NUM_BETAS) -> None:
        super().__init__()
        self.num_joints = num_joints
        self.D_conv1 = nn.Conv2d(9, 32, kernel_size=1)
        self.D_conv2 = nn.Conv2d(32, 32, kernel_size=1)
        self.pose_out = nn.ModuleList(nn.Linear(32, 1) for _ in range(num_joints))
        self.betas_fc1 = nn.Linear(num_betas, 10)
        self.betas_fc2 = nn.Linear(10, 5)
        self.betas_out = nn.Linear(5, 1)
        self.D_alljoints_fc1 = nn.Linear(32 * num_joints, 1024)
        self.D_alljoints_fc2 = nn.Linear(1024, 1024)
        self.D_alljoints_out = nn.Linear(1024, 1)

    def forward(self, body_pose_rotmat: torch.Tensor, betas: torch.Tensor) -> torch.Tensor:
        """Score poses.

        Args:
            body_pose_rotmat: (N, 23, 3, 3) float rotation matrices (parent-relative).
            betas: (N, 10) float.

        Returns:
            (N, 25) float scores: 23 per joint, betas, all joints (1 = real, 0 = fake under LSGAN).
        """
        n = body_pose_rotmat.shape[0]
        x = body_pose_rotmat.reshape(n, self.num_joints, 9).transpose(1, 2).unsqueeze(2)  # (N, 9, 1, J')
        x = torch.relu(self.D_conv2(torch.relu(self.D_conv1(x))))  # (N, 32, 1, J')
        per_joint = [self.pose_out[j](x[:, :, 0, j]) for j in range(self.num_joints)]  # J' x (N, 1)
        b = torch.relu(self.betas_fc2(torch.relu(self.betas_fc1(betas))))
        all_joints = torch.relu(self.D_alljoints_fc1(x.reshape(n, -1)))  # (N, 1024)
        all_joints = torch.relu(self.D_alljoints_fc2(all_joints))
        return torch.cat([*per_joint, self.betas_out(b), self.D_alljoints_out(all_joints)], dim=1)  # (N, 25)


def load_mocap(path: str | Path) -> tuple[np.ndarray, np.ndarray]:
    """Read ProHMR's `cmu_mocap.npz`.

    Args:
        path: file with `body_pose` (N, 72) or (N, 69) axis-angle (a leading global orientation is dropped) and
            `betas` (N, 10).

    Returns:
        (body_pose_aa (N, 69) float32, betas (N, 10) float32).

    Raises:
        FileNotFoundError: missing file (config key model.mocap_path). ValueError: missing field or wrong shape.
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(
            f"mocap file not found: {path} (config key model.mocap_path; ProHMR's data/datasets/cmu_mocap.npz, or "
            "set model.mocap_path=null to train without the adversarial prior)"
        )
    with np.load(path) as data:
        for key in ("body_pose", "betas"):
            if key not in data.files:
                raise ValueError(f"{path}: field {key!r} missing (fields: {data.files})")
        pose = np.asarray(data["body_pose"], dtype=np.float32)
        betas = np.asarray(data["betas"], dtype=np.float32)
    if pose.ndim != 2 or pose.shape[1] not in (69, 72):
        raise ValueError(f"{path}: field 'body_pose' must be (N, 72) or (N, 69), got {pose.shape}")
    if pose.shape[1] == 72:
        pose = pose[:, 3:]
    if betas.ndim != 2 or betas.shape[0] != pose.shape[0] or betas.shape[1] < NUM_BETAS:
        raise ValueError(f"{path}: field 'betas' must be ({pose.shape[0]}, >=10), got {betas.shape}")
    return pose, betas[:, :NUM_BETAS]
