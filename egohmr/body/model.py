"""Body model module: SMPL-format buffers plus the forward that hands the maths to :func:`linear_blend_skinning`.

Frames: the model's own frame ``_local`` is SMPL's (y-up, facing +z, metres). ``global_orient_rotmat`` maps it to the
output frame (for example the PV camera frame) and ``transl`` is added afterwards. Rotation matrices act on column
vectors.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import torch
from torch import nn

from egohmr.body.lbs import linear_blend_skinning
from egohmr.constants import LANDMARK_NAMES, SMPL_TO_OPENPOSE

__all__ = ["BodyModel", "BodyOutput"]

ArrayLike = np.ndarray | torch.Tensor | Sequence


@dataclass
class BodyOutput:
    """Posed body.

    Attributes:
        vertices: (B, V, 3) float, metres, output frame (translation included).
        joints: (B, 24, 3) float, metres, the kinematic SMPL joints (the joints the metrics use).
        landmarks: (B, 11, 3) float, metres, surface landmarks read off vertices, in ``constants.LANDMARK_NAMES``
            order (nose, eyes, ears, big/small toes, heels).
    """

    vertices: torch.Tensor
    joints: torch.Tensor
    landmarks: torch.Tensor

    def openpose25(self) -> torch.Tensor:
        """OpenPose BODY_25 joints from ``[joints | landmarks]`` via ``constants.SMPL_TO_OPENPOSE`` (spec section 2).

        Returns:
            (B, 25, 3) float, metres, same frame as ``joints``. MidHip is the SMPL pelvis, as in the official code.
        """
        both = torch.cat([self.joints, self.landmarks], dim=-2)  # (B, 35, 3)
        index = torch.tensor(SMPL_TO_OPENPOSE, dtype=torch.long, device=both.device)
        return both.index_select(-2, index)  # (B, 25, 3)


def _tensor(x: ArrayLike, dtype: torch.dtype) -> torch.Tensor:
    return torch.as_tensor(np.asarray(x) if not isinstance(x, torch.Tensor) else x).to(dtype).clone()


class BodyModel(nn.Module):
    """SMPL-format body model holding buffers only (no pose or shape parameters).

    Works with real SMPL files and with the packaged open body alike (see :func:`egohmr.body.load_body_model`).
    Move it with ``.to(device)``; inputs of another float dtype are served by casting the buffers on the fly.

    Args:
        v_template: (V, 3) float, metres, rest template, SMPL local frame.
        shapedirs: (V, 3, L) float, shape blend shapes (L = number of betas).
        posedirs: (V, 3, 207) float, pose blend shapes in SMPL file layout.
        j_regressor: (24, V) float, dense joint regressor.
        lbs_weights: (V, 24) float, skinning weights.
        parents: (24,) int, parent of each joint; the root entry is ignored (stored as -1).
        faces: (F, 3) int, triangle vertex indices.
        landmark_vertex_ids: (11,) int, vertex index of each landmark in ``LANDMARK_NAMES`` order.
        gender: "neutral", "male" or "female" (informative).
    """

    v_template: torch.Tensor
    shapedirs: torch.Tensor
    posedirs: torch.Tensor
    j_regressor: torch.Tensor
    lbs_weights: torch.Tensor
    parents: torch.Tensor
    faces_tensor: torch.Tensor
    landmark_vertex_ids: torch.Tensor

    def __init__(
        self,
        v_template: ArrayLike,
        shapedirs: ArrayLike,
        posedirs: ArrayLike,
        j_regressor: ArrayLike,
        lbs_weights: ArrayLike,
        parents: ArrayLike,
        faces: ArrayLike,
        landmark_vertex_ids: ArrayLike,
        gender: str = "neutral",
    ) -> None:
        super().__init__()
        v_template = _tensor(v_template, torch.float32)
        V = v_template.shape[0]
        shapedirs = _tensor(shapedirs, torch.float32)
        posedirs = _tensor(posedirs, torch.float32)
        j_regressor = _tensor(j_regressor, torch.float32)
        lbs_weights = _tensor(lbs_weights, torch.float32)
        parents = _tensor(parents, torch.long)
        faces = _tensor(np.asarray(faces, dtype=np.int64), torch.long)
        landmark_vertex_ids = _tensor(np.asarray(landmark_vertex_ids, dtype=np.int64), torch.long)
        J = j_regressor.shape[0]
        expected = {
            "v_template": (v_template, (V, 3)),
            "shapedirs": (shapedirs, (V, 3, shapedirs.shape[-1] if shapedirs.ndim == 3 else -1)),
            "posedirs": (posedirs, (V, 3, 9 * (J - 1))),
            "j_regressor": (j_regressor, (J, V)),
            "lbs_weights": (lbs_weights, (V, J)),
            "parents": (parents, (J,)),
            "faces": (faces, (faces.shape[0], 3)),
            "landmark_vertex_ids": (landmark_vertex_ids, (len(LANDMARK_NAMES),)),
        }
        for name, (value, shape) in expected.items():
            if tuple(value.shape) != shape:
                raise ValueError(f"BodyModel: {name} must have shape {shape}, got {tuple(value.shape)}")
        if landmark_vertex_ids.numel() and (landmark_vertex_ids.min() < 0 or landmark_vertex_ids.max() >= V):
            raise ValueError(f"BodyModel: landmark_vertex_ids must index the {V} vertices, got {landmark_vertex_ids}")
        parent_list = parents.tolist()
        parent_list[0] = -1
        if any(not 0 <= p < j for j, p in enumerate(parent_list[1:], start=1)):
            raise ValueError(f"BodyModel: every parent must precede its joint, got parents {parent_list}")
        if gender not in ("neutral", "male", "female"):
            raise ValueError(f"BodyModel: gender must be 'neutral', 'male' or 'female', got {gender!r}")
        self._gender = gender
        self._parents_tuple: tuple[int, ...] = tuple(parent_list)
        self.register_buffer("v_template", v_template)
        self.register_buffer("shapedirs", shapedirs)
        self.register_buffer("posedirs", posedirs.reshape(V * 3, -1).T.contiguous())  # (207, V*3)
        self.register_buffer("j_regressor", j_regressor)
        self.register_buffer("lbs_weights", lbs_weights)
        self.register_buffer("parents", torch.tensor(parent_list, dtype=torch.long))
        self.register_buffer("faces_tensor", faces)
        self.register_buffer("landmark_vertex_ids", landmark_vertex_ids)

    @property
    def gender(self) -> str:
        """ "neutral", "male" or "female"."""
        return self._gender

    @property
    def num_vertices(self) -> int:
        """V."""
        return self.v_template.shape[0]

    @property
    def num_joints(self) -> int:
        """Kinematic joints (24 for SMPL)."""
        return self.j_regressor.shape[0]

    @property
    def num_betas(self) -> int:
        """Number of shape coefficients L."""
        return self.shapedirs.shape[-1]

    @property
    def faces(self) -> torch.Tensor:
        """(F, 3) int64 tensor of triangle vertex indices (the ``faces_tensor`` buffer, on the model's device)."""
        return self.faces_tensor

    def extra_repr(self) -> str:
        return (
            f"gender={self.gender}, num_vertices={self.num_vertices}, num_faces={self.faces_tensor.shape[0]}, "
            f"num_joints={self.num_joints}, num_betas={self.num_betas}"
        )

    def forward(
        self,
        betas: torch.Tensor,
        global_orient_rotmat: torch.Tensor,
        body_pose_rotmat: torch.Tensor,
        transl: torch.Tensor | None = None,
    ) -> BodyOutput:
        """Pose the body. Axis-angle callers convert with :func:`egohmr.geometry.axis_angle_to_rotmat` first.

        Args:
            betas: (B, L) float, shape coefficients.
            global_orient_rotmat: (B, 3, 3) or (B, 1, 3, 3) float, root rotation (local frame -> output frame).
            body_pose_rotmat: (B, 23, 3, 3) float, joint rotations relative to the parents.
            transl: optional (B, 3) float, metres, added to every output point.

        Returns:
            BodyOutput with vertices (B, V, 3), joints (B, 24, 3), landmarks (B, 11, 3) in the output frame.

        Raises:
            ValueError: on a wrong shape or dtype, naming the argument.
        """
        if betas.ndim != 2 or betas.shape[1] != self.num_betas:
            raise ValueError(f"betas must have shape (B, {self.num_betas}), got {tuple(betas.shape)}")
        B = betas.shape[0]
        if global_orient_rotmat.ndim == 4 and global_orient_rotmat.shape[1] == 1:
            global_orient_rotmat = global_orient_rotmat[:, 0]  # (B, 3, 3)
        if tuple(global_orient_rotmat.shape) != (B, 3, 3):
            raise ValueError(
                f"global_orient_rotmat must have shape ({B}, 3, 3) or ({B}, 1, 3, 3) (B from betas), "
                f"got {tuple(global_orient_rotmat.shape)}"
            )
        n_body = self.num_joints - 1
        if tuple(body_pose_rotmat.shape) != (B, n_body, 3, 3):
            raise ValueError(
                f"body_pose_rotmat must have shape ({B}, {n_body}, 3, 3) (B from betas), "
                f"got {tuple(body_pose_rotmat.shape)}"
            )
        if transl is not None and tuple(transl.shape) != (B, 3):
            raise ValueError(f"transl must have shape ({B}, 3) (B from betas), got {tuple(transl.shape)}")
        dtype = betas.dtype
        if not dtype.is_floating_point:
            raise ValueError(f"betas must be a float tensor, got {dtype}")
        for name, value in (("global_orient_rotmat", global_orient_rotmat), ("body_pose_rotmat", body_pose_rotmat)):
            if value.dtype != dtype:
                raise ValueError(f"{name} has dtype {value.dtype}, but betas has {dtype}; pass one dtype")
        vertices, joints = linear_blend_skinning(
            betas,
            global_orient_rotmat,
            body_pose_rotmat,
            self.v_template.to(dtype),
            self.shapedirs.to(dtype),
            self.posedirs.to(dtype),
            self.j_regressor.to(dtype),
            self._parents_tuple,
            self.lbs_weights.to(dtype),
        )
        if transl is not None:
            vertices = vertices + transl[:, None].to(dtype)  # (B, V, 3)
            joints = joints + transl[:, None].to(dtype)  # (B, 24, 3)
        landmarks = vertices.index_select(1, self.landmark_vertex_ids)  # (B, 11, 3)
        return BodyOutput(vertices=vertices, joints=joints, landmarks=landmarks)
