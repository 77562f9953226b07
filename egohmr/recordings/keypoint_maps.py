"""COCO-17 / COCO-WholeBody keypoints <-> OpenPose BODY_25 (numpy, (x px, y px, confidence) triplets).

Joint orders: COCO-17 (`COCO17_NAMES`, the COCO keypoint challenge), COCO-WholeBody (133 = the 17 body keypoints,
6 foot keypoints `WHOLEBODY_FOOT_NAMES`, 68 face and 2 x 21 hand keypoints; Jin et al. 2020) and OpenPose BODY_25
(`egohmr.constants.OPENPOSE25_NAMES`).

COCO -> BODY_25:
    * same-named joints are copied (nose, eyes, ears, shoulders, elbows, wrists, hips, knees, ankles; WholeBody feet ->
      big toes, small toes, heels);
    * Neck = middle of the shoulders and MidHip = middle of the hips, each only when both ends are confident
      (confidence > threshold); their confidence is the smaller of the two;
    * COCO-17 has no feet: BODY_25 toes and heels get confidence 0. Face and hand keypoints are not used.
BODY_25 -> COCO (`op25_to_coco`) copies the same-named joints back; Neck and MidHip have no COCO counterpart.
"""

from __future__ import annotations

import numpy as np

from egohmr.constants import NUM_OPENPOSE_JOINTS, OPENPOSE25_NAMES

__all__ = [
    "COCO17_NAMES",
    "NUM_COCO17",
    "NUM_WHOLEBODY",
    "OP25_FROM_COCO",
    "WHOLEBODY_FOOT_NAMES",
    "coco_to_op25",
    "op25_to_coco",
]

COCO17_NAMES: tuple[str, ...] = (
    "nose", "left_eye", "right_eye", "left_ear", "right_ear", "left_shoulder", "right_shoulder", "left_elbow",
    "right_elbow", "left_wrist", "right_wrist", "left_hip", "right_hip", "left_knee", "right_knee", "left_ankle",
    "right_ankle",
)  # fmt: skip
WHOLEBODY_FOOT_NAMES: tuple[str, ...] = (
    "left_big_toe", "left_small_toe", "left_heel", "right_big_toe", "right_small_toe", "right_heel",
)  # fmt: skip
NUM_COCO17 = 17
NUM_WHOLEBODY = 133
WHOLEBODY_FOOT_START = 17  # WholeBody indices 17..22 are the feet

_COCO_NAME_TO_OP25: dict[str, str] = {
    "nose": "Nose", "left_eye": "LEye", "right_eye": "REye", "left_ear": "LEar", "right_ear": "REar",
    "left_shoulder": "LShoulder", "right_shoulder": "RShoulder", "left_elbow": "LElbow", "right_elbow": "RElbow",
    "left_wrist": "LWrist", "right_wrist": "RWrist", "left_hip": "LHip", "right_hip": "RHip", "left_knee": "LKnee",
    "right_knee": "RKnee", "left_ankle": "LAnkle", "right_ankle": "RAnkle", "left_big_toe": "LBigToe",
    "left_small_toe": "LSmallToe", "left_heel": "LHeel", "right_big_toe": "RBigToe", "right_small_toe": "RSmallToe",
    "right_heel": "RHeel",
}  # fmt: skip

_WHOLEBODY_BODY_AND_FEET = COCO17_NAMES + WHOLEBODY_FOOT_NAMES
OP25_FROM_COCO: dict[int, int] = {
    OPENPOSE25_NAMES.index(_COCO_NAME_TO_OP25[name]): i for i, name in enumerate(_WHOLEBODY_BODY_AND_FEET)
}
"""BODY_25 index -> COCO(-WholeBody) index of the copied joints (indices < 17 exist in both COCO formats)."""

_MIDPOINTS: tuple[tuple[int, int, int], ...] = (
    (OPENPOSE25_NAMES.index("Neck"), COCO17_NAMES.index("left_shoulder"), COCO17_NAMES.index("right_shoulder")),
    (OPENPOSE25_NAMES.index("MidHip"), COCO17_NAMES.index("left_hip"), COCO17_NAMES.index("right_hip")),
)


def coco_to_op25(kp_coco: np.ndarray, conf_threshold: float = 0.0) -> np.ndarray:
    """COCO-17 or COCO-WholeBody keypoints -> OpenPose BODY_25 (module docstring for the rules).

    Args:
        kp_coco: (..., 17, 3) or (..., 133, 3) float (x px, y px, confidence or COCO visibility flag).
        conf_threshold: a keypoint is confident when its confidence is > this; used for Neck and MidHip.

    Returns:
        (..., 25, 3) float64; joints without a source have (0, 0, 0), as OpenPose writes undetected ones.

    Raises:
        ValueError: another keypoint count.
    """
    kp = np.asarray(kp_coco, dtype=np.float64)
    if kp.ndim < 2 or kp.shape[-1] != 3 or kp.shape[-2] not in (NUM_COCO17, NUM_WHOLEBODY):
        raise ValueError(f"COCO keypoints must have shape (..., 17, 3) or (..., 133, 3), got {kp.shape}")
    out = np.zeros(kp.shape[:-2] + (NUM_OPENPOSE_JOINTS, 3))
    for op, coco in OP25_FROM_COCO.items():
        if coco < kp.shape[-2]:
            out[..., op, :] = kp[..., coco, :]
    for op, a, b in _MIDPOINTS:
        both = (kp[..., a, 2] > conf_threshold) & (kp[..., b, 2] > conf_threshold)  # (...)
        mid = 0.5 * (kp[..., a, :2] + kp[..., b, :2])
        conf = np.minimum(kp[..., a, 2], kp[..., b, 2])
        out[..., op, :] = np.where(both[..., None], np.concatenate([mid, conf[..., None]], axis=-1), 0.0)
    return out


def op25_to_coco(kp_op25: np.ndarray, wholebody: bool = False) -> np.ndarray:
    """OpenPose BODY_25 -> COCO-17 (or COCO-WholeBody with face and hands zero) by copying same-named joints.

    Args:
        kp_op25: (..., 25, 3) float (x px, y px, confidence).
        wholebody: return 133 keypoints (feet filled from the BODY_25 toes and heels) instead of 17.

    Returns:
        (..., 17, 3) or (..., 133, 3) float64.
    """
    kp = np.asarray(kp_op25, dtype=np.float64)
    if kp.ndim < 2 or kp.shape[-2:] != (NUM_OPENPOSE_JOINTS, 3):
        raise ValueError(f"OpenPose BODY_25 keypoints must have shape (..., 25, 3), got {kp.shape}")
    count = NUM_WHOLEBODY if wholebody else NUM_COCO17
    out = np.zeros(kp.shape[:-2] + (count, 3))
    for op, coco in OP25_FROM_COCO.items():
        if coco < count:
            out[..., coco, :] = kp[..., op, :]
    return out
