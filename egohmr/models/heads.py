"""Stage-1 FC head: SMPL betas and weak-perspective crop camera (reference-egohmr.md section 2, "Heads").

``FCHead``: Linear(C -> 1024) - ReLU - Linear(1024 -> 13); the 13 outputs are offsets added to mean parameters:
``betas = offset[:10] + init_betas`` and ``cam_crop = offset[10:13] + init_cam`` with ``cam_crop = [s, tx, ty]``
the weak-perspective camera of the 224 px crop. The head does not see the flow latent, so betas and camera are the
same for every sample of an image.

State-dict keys (official layout, ``flow.fc_head.`` prefix in official stage-1 checkpoints)::

    init_cam (1, 1, 3) buffer, init_betas (1, 1, 10) buffer, layers.0.{weight,bias}, layers.2.{weight,bias}
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import torch
from torch import nn

__all__ = ["DEFAULT_INIT_CAM_CROP", "DEFAULT_MEAN_BETAS", "FCHead", "FCHeadOutput"]

# Mean SMPL shape of the HMR/SPIN mean-parameter file (`smpl_mean_params.npz`, key `shape`), which the official code
# loads; those files are not redistributed here. Official checkpoints carry the buffers, which then replace these.
DEFAULT_MEAN_BETAS: tuple[float, ...] = (
    0.20560974,
    0.33556297,
    -0.35068282,
    0.35612896,
    0.41754073,
    0.03088791,
    0.30475676,
    0.23613405,
    0.20912662,
    0.31212646,
)
# Mean weak-perspective crop camera [s, tx, ty] of the same file.
DEFAULT_INIT_CAM_CROP: tuple[float, float, float] = (0.9, 0.0, 0.0)


@dataclass
class FCHeadOutput:
    """FC head predictions, repeated over the S samples.

    Attributes:
        betas: (B, S, 10) float SMPL shape coefficients.
        cam_crop: (B, S, 3) float weak-perspective crop camera ``[s, tx, ty]`` (224 px crop, normalised units).
    """

    betas: torch.Tensor
    cam_crop: torch.Tensor


class FCHead(nn.Module):
    """Deterministic head for betas and crop camera.

    Args:
        context_features: C, size of the conditioning vector (official 2566).
        hidden_features: hidden width (official 1024).
        init_betas: mean betas (10 values); default ``DEFAULT_MEAN_BETAS``.
        init_cam: mean crop camera ``[s, tx, ty]``; default ``DEFAULT_INIT_CAM_CROP``.
    """

    def __init__(
        self,
        context_features: int = 2566,
        hidden_features: int = 1024,
        init_betas: Sequence[float] = DEFAULT_MEAN_BETAS,
        init_cam: Sequence[float] = DEFAULT_INIT_CAM_CROP,
    ) -> None:
        super().__init__()
        if len(init_cam) != 3:
            raise ValueError(f"init_cam must hold 3 values [s, tx, ty], got {len(init_cam)}")
        self.num_betas = len(init_betas)
        # Registration order = official state-dict order (init_cam, init_betas, layers.*).
        self.register_buffer("init_cam", torch.tensor(init_cam, dtype=torch.float32).reshape(1, 1, 3))
        self.register_buffer("init_betas", torch.tensor(init_betas, dtype=torch.float32).reshape(1, 1, -1))
        self.layers = nn.Sequential(
            nn.Linear(context_features, hidden_features),
            nn.ReLU(),
            nn.Linear(hidden_features, self.num_betas + 3),
        )
        nn.init.xavier_uniform_(self.layers[2].weight, gain=0.02)

    def forward(self, context: torch.Tensor, num_samples: int = 1) -> FCHeadOutput:
        """Predict betas and crop camera.

        Args:
            context: (B, C) float conditioning vector.
            num_samples: S, how many times to repeat the (z-independent) prediction.

        Returns:
            FCHeadOutput with betas (B, S, 10) and cam_crop (B, S, 3).
        """
        if context.ndim != 2 or context.shape[1] != self.layers[0].in_features:
            raise ValueError(f"context must have shape (B, {self.layers[0].in_features}), got {tuple(context.shape)}")
        b = context.shape[0]
        offset = self.layers(context).reshape(b, 1, -1).expand(b, num_samples, self.num_betas + 3)  # (B, S, 13)
        betas = offset[..., : self.num_betas] + self.init_betas  # (B, S, 10)
        cam_crop = offset[..., self.num_betas :] + self.init_cam  # (B, S, 3)
        return FCHeadOutput(betas=betas, cam_crop=cam_crop)
