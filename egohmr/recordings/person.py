"""One person per frame: the body box, the keypoints and where joint visibility comes from.

Box rule (EgoBody's ``center``/``scale``, spec section 4 and EgoBody issue #4: the box comes from the visible
OpenPose joints; the exact official margin is not published): the tight box of the confident keypoints
(confidence > threshold, at least 2 of them), its longer side at least `MIN_BOX_SIDE_PX`. The annotation fields
follow as ``center`` = box middle and ``scale`` = longer side / 200 (`box_center_scale`); the pipeline's crop is then
the official square of side ``scale * 200 * 1.2`` around ``center``.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

import numpy as np

from egohmr.constants import BBOX_SCALE_UNIT_PX

__all__ = ["MIN_BOX_SIDE_PX", "FramePerson", "box_center_scale", "box_iou", "keypoint_box", "select_person"]

MIN_BOX_SIDE_PX = 10.0
"""Boxes from keypoints are grown about their centre to at least this side (a person seen as 2 close points)."""
MIN_CONFIDENT_KEYPOINTS = 2

Box = tuple[float, float, float, float]


@dataclass(frozen=True)
class FramePerson:
    """The person chosen in one frame.

    Attributes:
        bbox_px: (x1, y1, x2, y2) body box, px (the pipeline's ``bbox_px``).
        keypoints_op25: (25, 3) float64 OpenPose BODY_25 (x px, y px, confidence), confidences <= the threshold set
            to 0 (so the official ``conf > 0`` visibility rule applies the threshold); None without keypoints.
        visibility_source: "keypoints" (visibility from the confidences) or "bbox" (the pipeline derives it from the
            box and the stage-1 body).
        num_people: people with keypoints in the frame; None when no keypoints were given.
        person_index: index of the chosen person in the frame's keypoint file; None without keypoints.
    """

    bbox_px: Box
    keypoints_op25: np.ndarray | None
    visibility_source: Literal["keypoints", "bbox"]
    num_people: int | None
    person_index: int | None


def keypoint_box(kp_op25: np.ndarray, conf_threshold: float = 0.0) -> Box | None:
    """The body box of one person's keypoints (module docstring), None with fewer than 2 confident keypoints.

    Args:
        kp_op25: (25, 3) float (x px, y px, confidence).
        conf_threshold: keypoints with confidence > this count.
    """
    kp = np.asarray(kp_op25, dtype=np.float64)
    confident = kp[:, 2] > conf_threshold
    if int(confident.sum()) < MIN_CONFIDENT_KEYPOINTS:
        return None
    lo, hi = kp[confident, :2].min(axis=0), kp[confident, :2].max(axis=0)
    grow = max(MIN_BOX_SIDE_PX - float((hi - lo).max()), 0.0) / 2
    return (float(lo[0] - grow), float(lo[1] - grow), float(hi[0] + grow), float(hi[1] + grow))


def box_center_scale(bbox_px: Sequence[float]) -> tuple[np.ndarray, float]:
    """EgoBody annotation fields of a box: ``center`` (2,) px = box middle, ``scale`` = longer side / 200 px."""
    x1, y1, x2, y2 = (float(v) for v in bbox_px)
    return np.array([(x1 + x2) / 2, (y1 + y2) / 2]), max(x2 - x1, y2 - y1) / BBOX_SCALE_UNIT_PX


def box_iou(a: Sequence[float], b: Sequence[float]) -> float:
    """Intersection over union of two (x1, y1, x2, y2) boxes."""
    w = max(0.0, min(a[2], b[2]) - max(a[0], b[0]))
    h = max(0.0, min(a[3], b[3]) - max(a[1], b[1]))
    inter = w * h
    union = (a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - inter
    return inter / union if union > 0 else 0.0


def _thresholded(kp: np.ndarray, conf_threshold: float) -> np.ndarray:
    out = np.array(kp, dtype=np.float64)
    out[out[:, 2] <= conf_threshold, 2] = 0.0
    return out


def select_person(
    people_op25: np.ndarray | None,
    bbox_px: Sequence[float] | None = None,
    person: int | None = None,
    conf_threshold: float = 0.0,
    where: str = "frame",
) -> FramePerson | None:
    """Choose the person of a frame and derive the box and the visibility source.

    Rules:
        * keypoints, no box: person `person` (an index into the file's people), else the person with the largest
          keypoint box; the box comes from that person's keypoints;
        * keypoints and a box: the box is kept; the keypoints are person `person`'s, else those of the person whose
          keypoint box overlaps the box most (none overlapping: no keypoints, visibility from the box);
        * a box only: visibility from the box.

    Args:
        people_op25: (N, 25, 3) float OpenPose BODY_25 of the frame's people, or None when no keypoints were given.
        bbox_px: (x1, y1, x2, y2) px given by the user, or None.
        person: index of the person to use, or None for the automatic choice.
        conf_threshold: keypoints with confidence > this are confident (official: 0).
        where: the frame and file, for error messages.

    Returns:
        FramePerson, or None when the frame has no usable person (no box and no person with >= 2 confident
        keypoints).

    Raises:
        ValueError: `person` out of range, or person `person` without 2 confident keypoints (and no box).
    """
    box = None if bbox_px is None else tuple(float(v) for v in bbox_px)
    if people_op25 is None:
        return None if box is None else FramePerson(box, None, "bbox", None, None)
    people = np.asarray(people_op25, dtype=np.float64)
    num = int(people.shape[0])
    boxes = [keypoint_box(kp, conf_threshold) for kp in people]
    if person is not None:
        if not 0 <= person < num:
            raise ValueError(f"{where}: person {person} requested but the frame has {num} people (indices from 0)")
        index = person
        if box is None and boxes[index] is None:
            raise ValueError(
                f"{where}: person {person} has fewer than {MIN_CONFIDENT_KEYPOINTS} keypoints with confidence > "
                f"{conf_threshold}; no box can be derived (give a bbox or lower the threshold)"
            )
    elif box is None:
        areas = [(b[2] - b[0]) * (b[3] - b[1]) if b is not None else -1.0 for b in boxes]
        if not areas or max(areas) < 0:
            return None
        index = int(np.argmax(areas))
    else:
        overlaps = [box_iou(b, box) if b is not None else 0.0 for b in boxes]
        if not overlaps or max(overlaps) <= 0:
            return FramePerson(box, None, "bbox", num, None)
        index = int(np.argmax(overlaps))
    chosen_box = box if box is not None else boxes[index]
    return FramePerson(chosen_box, _thresholded(people[index], conf_threshold), "keypoints", num, index)
