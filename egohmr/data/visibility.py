"""Joint visibility from OpenPose keypoints: the mask that conditions stage 2.

Official definition (reference-egohmr.md section 3): ``vis_op = conf > 0`` for the 25 OpenPose keypoints, MidHip (8)
forced visible, gathered to the 24 SMPL joints with ``OPENPOSE_TO_SMPL_VISIBILITY`` (training default) or
``..._LOOSE`` (``pelvis_vis_loosen``, test default). The image-bounds visibility of the metrics is
`egohmr.evaluate.visibility.in_image_mask`.
"""

from __future__ import annotations

import torch

from egohmr.constants import (
    NUM_OPENPOSE_JOINTS,
    OPENPOSE_MIDHIP,
    OPENPOSE_TO_SMPL_VISIBILITY,
    OPENPOSE_TO_SMPL_VISIBILITY_LOOSE,
)

__all__ = ["openpose_visibility_smpl24"]


def openpose_visibility_smpl24(kp2d_op25: torch.Tensor, *, loosen: bool) -> torch.Tensor:
    """SMPL-24 joint visibility from OpenPose BODY_25 confidences.

    Args:
        kp2d_op25: (..., 25, 3) float (x, y, conf) or (..., 25) float confidences.
        loosen: use the official ``pelvis_vis_loosen`` map (hips <- knees, neck <- OpenPose neck; the official test
            default) instead of the training default.

    Returns:
        (..., 24) bool.
    """
    conf = kp2d_op25[..., 2] if kp2d_op25.ndim >= 2 and kp2d_op25.shape[-1] == 3 else kp2d_op25
    if conf.shape[-1:] != (NUM_OPENPOSE_JOINTS,):
        raise ValueError(f"kp2d_op25 must have shape (..., 25, 3) or (..., 25), got {tuple(kp2d_op25.shape)}")
    vis_op = conf > 0  # (..., 25)
    vis_op[..., OPENPOSE_MIDHIP] = True
    table = OPENPOSE_TO_SMPL_VISIBILITY_LOOSE if loosen else OPENPOSE_TO_SMPL_VISIBILITY
    index = torch.as_tensor(table, dtype=torch.long, device=conf.device)
    return vis_op[..., index]  # (..., 24)
