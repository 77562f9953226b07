"""Geometry core: rotations, cameras, rigid frames and Procrustes alignment.

Pure torch functions, batched over leading dimensions, following the input's device and dtype. Rotation matrices and
4x4 transforms act on column vectors (``p' = R p``).
"""

from egohmr.geometry.cameras import (
    crop_cam_to_full_transl,
    crop_cam_transl,
    full_transl_to_crop_cam,
    perspective_project,
)
from egohmr.geometry.frames import HOLO_TO_OPENCV, apply_transform, compose, holo_to_opencv, invert_rigid, make_rigid
from egohmr.geometry.procrustes import similarity_procrustes, similarity_procrustes_zero_filled
from egohmr.geometry.rotations import (
    Rot6dOrder,
    axis_angle_to_rotmat,
    gram_schmidt,
    quat_to_axis_angle,
    quat_to_rotmat,
    rot6d_to_rotmat,
    rotmat_to_axis_angle,
    rotmat_to_quat,
    rotmat_to_rot6d,
    skew,
)

__all__ = [
    "HOLO_TO_OPENCV",
    "Rot6dOrder",
    "apply_transform",
    "axis_angle_to_rotmat",
    "compose",
    "crop_cam_to_full_transl",
    "crop_cam_transl",
    "full_transl_to_crop_cam",
    "gram_schmidt",
    "holo_to_opencv",
    "invert_rigid",
    "make_rigid",
    "perspective_project",
    "quat_to_axis_angle",
    "quat_to_rotmat",
    "rot6d_to_rotmat",
    "rotmat_to_axis_angle",
    "rotmat_to_quat",
    "rotmat_to_rot6d",
    "similarity_procrustes",
    "similarity_procrustes_zero_filled",
    "skew",
]
