"""Ground truth for evaluation: the EgoBody annotation npz and posed GT/predicted bodies.

GT bodies use the gendered body model with the GT parameters and `transl_pv`; predictions use the neutral model and
the predicted translation (reference-egohmr.md section 5). Joints are the 24 kinematic joints of the body model.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from egohmr.constants import NUM_BETAS, NUM_BODY_JOINTS

ANNOTATION_REQUIRED: dict[str, tuple[int, ...]] = {
    "imgname": (),
    "pose": (NUM_BODY_JOINTS * 3,),
    "shape": (NUM_BETAS,),
    "global_orient_pv": (3,),
    "transl_pv": (3,),
    "fx": (),
    "fy": (),
    "cx": (),
    "cy": (),
    "gender": (),
}
GENDER_CODES: dict[str, str] = {
    "m": "male",
    "f": "female",
    "male": "male",
    "female": "female",
    "0": "male",
    "1": "female",
}


@dataclass
class Annotations:
    """Per-frame GT of a split, in npz row order.

    Attributes:
        imgname: (N,) str. Relative image path `egocentric_color/<recording>/<holo_time>/PV/<ts>_frame_XXXXX.jpg`.
        body_pose_aa: (N, 69) float64, radians. SMPL body pose, axis-angle.
        betas: (N, 10) float64.
        global_orient_aa_pv: (N, 3) float64, radians, PV frame.
        transl_pv: (N, 3) float64, metres, PV frame.
        fx, fy, cx, cy: (N,) float64, px. PV intrinsics.
        gender: (N,) str, "male" or "female".
    """

    imgname: np.ndarray
    body_pose_aa: np.ndarray
    betas: np.ndarray
    global_orient_aa_pv: np.ndarray
    transl_pv: np.ndarray
    fx: np.ndarray
    fy: np.ndarray
    cx: np.ndarray
    cy: np.ndarray
    gender: np.ndarray

    @property
    def num_frames(self) -> int:
        return int(self.imgname.shape[0])


def load_annotations(path: str | Path) -> Annotations:
    """Read the fields needed for evaluation from an annotation npz.

    Raises:
        FileNotFoundError: no such file (EgoBody `annotation_egocentric_smpl_npz/egocapture_<split>_smpl.npz`).
        ValueError: a field is missing, has the wrong per-frame shape, or a gender is not 'm'/'f'.
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(
            f"annotation file not found: {path} "
            "(EgoBody release: annotation_egocentric_smpl_npz/egocapture_<split>_smpl.npz)"
        )
    from egohmr.data.egobody_format import read_annotation_npz

    data = read_annotation_npz(path)
    missing = [k for k in ANNOTATION_REQUIRED if k not in data]
    if missing:
        raise ValueError(f"{path}: missing field(s) {missing}")
    raw = {k: np.asarray(data[k]) for k in ANNOTATION_REQUIRED}
    n = raw["imgname"].shape[0] if raw["imgname"].ndim else -1
    for key, shape in ANNOTATION_REQUIRED.items():
        arr = raw[key]
        if arr.ndim == 0 or arr.shape[0] != n or arr.shape[1:] != shape:
            raise ValueError(f"{path}: field {key!r} has shape {arr.shape}, expected ({n}, *{shape})")
    genders = []
    for i, g in enumerate(raw["gender"].tolist()):
        code = GENDER_CODES.get(str(g).strip().lower())
        if code is None:
            raise ValueError(f"{path}: field 'gender' row {i} is {g!r}, expected 'm' or 'f'")
        genders.append(code)
    return Annotations(
        imgname=np.asarray([str(v) for v in raw["imgname"].tolist()]),
        body_pose_aa=raw["pose"].astype(np.float64),
        betas=raw["shape"].astype(np.float64),
        global_orient_aa_pv=raw["global_orient_pv"].astype(np.float64),
        transl_pv=raw["transl_pv"].astype(np.float64),
        fx=raw["fx"].astype(np.float64),
        fy=raw["fy"].astype(np.float64),
        cx=raw["cx"].astype(np.float64),
        cy=raw["cy"].astype(np.float64),
        gender=np.asarray(genders),
    )


def gt_bodies(
    annotations: Annotations, index: np.ndarray, body_models: dict[str, torch.nn.Module], dtype: torch.dtype
) -> tuple[np.ndarray, np.ndarray]:
    """Pose the gendered GT bodies of frames `index`.

    Args:
        annotations: the split's `Annotations`.
        index: (B,) int, frame rows.
        body_models: {"male": BodyModel, "female": BodyModel}.
        dtype: torch dtype of the forward pass.

    Returns:
        (gt_joints_pv (B, 24, 3), gt_vertices_pv (B, V, 3)), float64 numpy, metres, PV frame.
    """
    from egohmr.geometry.rotations import axis_angle_to_rotmat

    index = np.asarray(index)
    go = axis_angle_to_rotmat(torch.as_tensor(annotations.global_orient_aa_pv[index], dtype=dtype))  # (B, 3, 3)
    pose = torch.as_tensor(annotations.body_pose_aa[index], dtype=dtype).reshape(-1, NUM_BODY_JOINTS, 3)
    body_pose = axis_angle_to_rotmat(pose)  # (B, 23, 3, 3)
    betas = torch.as_tensor(annotations.betas[index], dtype=dtype)
    transl = torch.as_tensor(annotations.transl_pv[index], dtype=dtype)
    genders = annotations.gender[index]
    joints = vertices = None
    for gender in ("male", "female"):
        rows = np.flatnonzero(genders == gender)
        if rows.size == 0:
            continue
        model = body_models[gender]
        with torch.no_grad():
            out = model(betas[rows], go[rows], body_pose[rows], transl[rows])
        if joints is None:
            joints = np.zeros((index.size, out.joints.shape[1], 3))
            vertices = np.zeros((index.size, out.vertices.shape[1], 3))
        joints[rows] = out.joints.double().cpu().numpy()
        vertices[rows] = out.vertices.double().cpu().numpy()
    return joints, vertices


def pred_bodies(
    betas: np.ndarray,
    global_orient_rotmat: np.ndarray,
    body_pose_rotmat: np.ndarray,
    transl_pv: np.ndarray,
    body_model: torch.nn.Module,
    dtype: torch.dtype,
) -> tuple[np.ndarray, np.ndarray]:
    """Pose the predicted neutral bodies and add the predicted translation.

    Args:
        betas: (B, S, 10) float.
        global_orient_rotmat: (B, S, 3, 3) float, SMPL local -> PV frame.
        body_pose_rotmat: (B, S, 23, 3, 3) float.
        transl_pv: (B, 3) float, metres, PV frame (one per frame, shared by its samples).
        body_model: neutral `BodyModel`.
        dtype: torch dtype of the forward pass.

    Returns:
        (pred_joints_pv (B, S, 24, 3), pred_vertices_pv (B, S, V, 3)), float64 numpy, metres, PV frame.
    """
    num_frames, num_samples = betas.shape[:2]
    flat = num_frames * num_samples
    with torch.no_grad():
        out = body_model(
            torch.as_tensor(betas, dtype=dtype).reshape(flat, -1),
            torch.as_tensor(global_orient_rotmat, dtype=dtype).reshape(flat, 3, 3),
            torch.as_tensor(body_pose_rotmat, dtype=dtype).reshape(flat, NUM_BODY_JOINTS, 3, 3),
        )
    joints = out.joints.double().cpu().numpy().reshape(num_frames, num_samples, -1, 3)  # (B, S, J, 3)
    vertices = out.vertices.double().cpu().numpy().reshape(num_frames, num_samples, -1, 3)  # (B, S, V, 3)
    offset = np.asarray(transl_pv, dtype=np.float64)[:, None, None, :]  # (B, 1, 1, 3)
    return joints + offset, vertices + offset
