"""Optional adversarial pose prior of stage 1: the HMR discriminator, the CMU mocap reader and the prior's update.

`PoseDiscriminator` keeps the official key layout (`discriminator.*` in `checkpoints_egohmr/53618/best_model.pt`,
reference-egohmr.md section 6): per-joint 1x1 convolutions over the 23 body rotation matrices (`D_conv1`, `D_conv2`),
one linear output per joint (`pose_out.{0..22}`), a betas branch (`betas_fc1`, `betas_fc2`, `betas_out`) and an
all-joints branch (`D_alljoints_fc1/fc2/out`). Its 25 outputs are trained with least-squares GAN losses.
`AdversarialPrior` holds what the discriminator's training needs besides its weights (its own AdamW, the mocap poses,
their `MocapBatches` order, the last step's fake samples) and runs its update (official `training_step_discriminator`:
`discriminator_loss`). The mocap rows are walked as the official shuffling DataLoader walks them: without replacement,
in a fresh order each pass over the set, a batch of B rows per update.
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
from egohmr.train.rng import mix_seed

__all__ = [
    "DISCRIMINATOR_LR",
    "AdversarialPrior",
    "MocapBatches",
    "PoseDiscriminator",
    "discriminator_loss",
    "load_mocap",
]

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


def discriminator_loss(disc_scores_real: torch.Tensor, disc_scores_fake: torch.Tensor) -> torch.Tensor:
    """LSGAN discriminator loss, each part averaged over its own rows (official `training_step_discriminator`).

    ``sum (D(real) - 1)^2 / N_real + sum D(fake)^2 / N_fake``, each sum over the rows and their 25 outputs.

    Args:
        disc_scores_real: (N_real, 25) outputs for the mocap poses (N_real = the mocap batch, B rows).
        disc_scores_fake: (N_fake, 25) outputs for the detached predicted poses (N_fake = B * S).

    Returns:
        () float, before the `LossWeights.adversarial` weight.
    """
    real = ((disc_scores_real - 1.0) ** 2).sum() / disc_scores_real.shape[0]
    fake = (disc_scores_fake**2).sum() / disc_scores_fake.shape[0]
    return real + fake


class MocapBatches:
    """Row indices of the mocap batches, as a shuffling DataLoader without `drop_last` yields them.

    Pass e over the M rows follows the permutation ``randperm(M)`` of a generator seeded with ``mix_seed(seed, e)``;
    each batch is the next slice of it (the last slice of a pass may be shorter), and the next pass starts when one
    is used up. The position is a pure function of (seed, pass, offset), which `state_dict` records.

    Args:
        num_rows: M >= 1.
        seed: seed of the permutations.
    """

    def __init__(self, num_rows: int, seed: int) -> None:
        if num_rows < 1:
            raise ValueError(f"mocap set is empty (num_rows={num_rows})")
        self.num_rows = num_rows
        self.seed = seed
        self.epoch = 0
        self.offset = 0
        self._order = self._permutation(0)

    def _permutation(self, epoch: int) -> torch.Tensor:
        return torch.randperm(self.num_rows, generator=torch.Generator().manual_seed(mix_seed(self.seed, epoch)))

    def next(self, batch_size: int) -> torch.Tensor:
        """(n,) int64 row indices of the next batch, n = min(batch_size, rows left in the pass)."""
        if self.offset >= self.num_rows:
            self.epoch, self.offset = self.epoch + 1, 0
            self._order = self._permutation(self.epoch)
        rows = self._order[self.offset : self.offset + batch_size]
        self.offset += rows.shape[0]
        return rows

    def state_dict(self) -> dict[str, int]:
        """{"seed", "epoch", "offset"}: where the walk stands."""
        return {"seed": self.seed, "epoch": self.epoch, "offset": self.offset}

    def load_state_dict(self, state: Mapping[str, int]) -> None:
        """Restore `state_dict`."""
        self.seed, self.epoch, self.offset = int(state["seed"]), int(state["epoch"]), int(state["offset"])
        self._order = self._permutation(self.epoch)


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
        self.mocap: tuple[torch.Tensor, torch.Tensor] | None = None
        """(body_pose_aa (M, 69), betas (M, 10)) float32 once read."""
        self.batches: MocapBatches | None = None
        """Order of the real rows; made with the mocap set, seeded with `torch.initial_seed()` (the engine's
        train.seed + rank) unless a restored state sets it."""
        self._restored: Mapping[str, int] | None = None
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

    def _batches(self) -> MocapBatches:
        if self.batches is None:
            self.batches = MocapBatches(self._mocap()[0].shape[0], torch.initial_seed())
            if self._restored is not None:
                self.batches.load_state_dict(self._restored)
        return self.batches

    def real_batch(self, batch_size: int) -> tuple[torch.Tensor, torch.Tensor]:
        """Next mocap batch: (body_pose_rotmat (n, 23, 3, 3), betas (n, 10)) float32, n <= batch_size rows."""
        mocap_pose, mocap_betas = self._mocap()
        rows = self._batches().next(batch_size)
        n = rows.shape[0]
        return axis_angle_to_rotmat(mocap_pose[rows].reshape(n, 23, 3)), mocap_betas[rows]

    def update(self) -> dict[str, float]:
        """One discriminator step on a mocap batch of B rows (real) vs the last training step's B * S samples (fake);
        {} without fakes.

        Returns:
            {"loss_discriminator": float}, `discriminator_loss` before the weight (the official logged `loss_disc`).
        """
        if self.fake is None:
            return {}
        fake_pose, fake_betas, b = self.fake
        real_pose, real_betas = self.real_batch(b)
        d_fake = self.discriminator(fake_pose, fake_betas)
        d_real = self.discriminator(real_pose.to(fake_pose), real_betas.to(fake_betas))
        loss = discriminator_loss(d_real, d_fake)
        self.optimizer.zero_grad(set_to_none=True)
        (self.loss_weight * loss).backward()
        all_reduce_gradients(_process_group(fake_pose.device), self.discriminator.parameters())
        self.optimizer.step()
        self.fake = None
        return {"loss_discriminator": float(loss.detach())}

    def state_dict(self) -> dict[str, Any]:
        """Optimizer state and the mocap walk's position, for exact resume."""
        batches = self.batches.state_dict() if self.batches is not None else self._restored
        return {"disc_optimizer": self.optimizer.state_dict(), "mocap_batches": batches}

    def load_state_dict(self, state: Mapping[str, Any]) -> None:
        """Restore `state_dict` (the mocap position applies once the set is read)."""
        self.optimizer.load_state_dict(state["disc_optimizer"])
        self._restored = state.get("mocap_batches")  # absent in runs saved before the epoch-wise walk
        if self.batches is not None and self._restored is not None:
            self.batches.load_state_dict(self._restored)
