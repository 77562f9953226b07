"""Optional adversarial pose prior of stage 1: the HMR discriminator, the CMU mocap reader and the prior's update.

`PoseDiscriminator` keeps the official key layout (`discriminator.*` in `checkpoints_egohmr/53618/best_model.pt`,
reference-egohmr.md section 6): per-joint 1x1 convolutions over the 23 body rotation matrices (`D_conv1`, `D_conv2`),
one linear output per joint (`pose_out.{0..22}`), a betas branch (`betas_fc1`, `betas_fc2`, `betas_out`) and an
all-joints branch (`D_alljoints_fc1/fc2/out`). Its 25 outputs are trained with least-squares GAN losses.
`AdversarialPrior` holds what the discriminator's training needs besides its weights (its own AdamW, the mocap poses,
their sampling generator, the last step's fake samples) and runs its update.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.distributed as dist
from torch import nn

from egohmr.constants import NUM_BETAS, NUM_BODY_JOINTS
from egohmr.geometry.rotations import axis_angle_to_rotmat
from egohmr.stage1.losses import loss_adversarial
from egohmr.train.distributed import DistContext, all_reduce_gradients

__all__ = ["DISCRIMINATOR_LR", "AdversarialPrior", "PoseDiscriminator", "load_mocap"]

logger = logging.getLogger(__name__)

DISCRIMINATOR_LR = 1e-4
"""Discriminator AdamW learning rate and weight decay (official: same as the model, 1e-4 / 1e-4)."""


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


def _process_group(device: torch.device) -> DistContext:
    """Where this process sits in the running torchrun group (one process when there is none)."""
    if not (dist.is_available() and dist.is_initialized()):
        return DistContext(0, 0, 1, device, owns_process_group=False)
    rank = dist.get_rank()
    local_rank = int(os.environ.get("LOCAL_RANK", rank))
    return DistContext(rank, local_rank, dist.get_world_size(), device, owns_process_group=False)


class AdversarialPrior:
    """Training state and update of the LSGAN pose prior (official ProHMR adversarial loss).

    Args:
        discriminator: the model's `PoseDiscriminator`; its parameters are updated here, not by the engine.
        mocap_path: ProHMR `cmu_mocap.npz` (config key model.mocap_path), read on the first update.
        loss_weight: weight of the discriminator loss (`LossWeights.adversarial`).
    """

    def __init__(self, discriminator: PoseDiscriminator, mocap_path: str | Path, loss_weight: float) -> None:
        self.discriminator = discriminator
        self.mocap_path = mocap_path
        self.loss_weight = loss_weight
        self.optimizer = torch.optim.AdamW(
            discriminator.parameters(), lr=DISCRIMINATOR_LR, weight_decay=DISCRIMINATOR_LR
        )
        self.generator = torch.Generator().manual_seed(0)
        """Draws the real mocap samples of each update."""
        self.mocap: tuple[torch.Tensor, torch.Tensor] | None = None
        """(body_pose_aa (M, 69), betas (M, 10)) float32 once read."""
        self.fake: tuple[torch.Tensor, torch.Tensor, int] | None = None
        """Detached (body_pose_rotmat (N, 23, 3, 3), betas (N, 10), B) of the last training step, N = B * S."""

    def generator_loss(self, body_pose_rotmat: torch.Tensor, betas: torch.Tensor, batch_size: int) -> torch.Tensor:
        """LSGAN generator loss of the predicted samples (N, 23, 3, 3) / (N, 10); keeps them for `update`."""
        self.fake = (body_pose_rotmat.detach(), betas.detach(), batch_size)
        return loss_adversarial(self.discriminator(body_pose_rotmat, betas), batch_size)

    def _mocap(self) -> tuple[torch.Tensor, torch.Tensor]:
        if self.mocap is None:
            pose, betas = load_mocap(self.mocap_path)
            self.mocap = (torch.from_numpy(pose), torch.from_numpy(betas))
            logger.info("adversarial pose prior: %d mocap poses from %s", pose.shape[0], self.mocap_path)
        return self.mocap

    def update(self) -> dict[str, float]:
        """One discriminator step on mocap (real) vs the last training step's samples (fake); {} without fakes.

        Returns:
            {"loss_discriminator": float}.
        """
        if self.fake is None:
            return {}
        fake_pose, fake_betas, b = self.fake
        mocap_pose, mocap_betas = self._mocap()
        n = fake_pose.shape[0]
        idx = torch.randint(0, mocap_pose.shape[0], (n,), generator=self.generator)
        real_pose = axis_angle_to_rotmat(mocap_pose[idx].reshape(n, 23, 3)).to(fake_pose)
        real_betas = mocap_betas[idx].to(fake_betas)
        d_real = self.discriminator(real_pose, real_betas)
        d_fake = self.discriminator(fake_pose, fake_betas)
        loss = self.loss_weight * (((d_real - 1.0) ** 2).sum() / b + (d_fake**2).sum() / b)
        self.optimizer.zero_grad(set_to_none=True)
        loss.backward()
        all_reduce_gradients(_process_group(fake_pose.device), self.discriminator.parameters())
        self.optimizer.step()
        self.fake = None
        return {"loss_discriminator": float(loss.detach())}

    def state_dict(self) -> dict[str, Any]:
        """Optimizer and mocap-generator state, for exact resume."""
        return {"disc_optimizer": self.optimizer.state_dict(), "mocap_generator": self.generator.get_state()}

    def load_state_dict(self, state: Mapping[str, Any]) -> None:
        """Restore `state_dict`."""
        self.optimizer.load_state_dict(state["disc_optimizer"])
        self.generator.set_state(state["mocap_generator"])
