"""Checks of an annotation file's geometry against itself and the scene: OpenPose keypoints vs the projected
``3d_joints_pv`` (gross and systematic), the box vs the keypoints, the PV camera's gravity direction and the body's
height above the scene floor (transform chain of `egohmr.data.egobody_format`)."""

from __future__ import annotations

import numpy as np

from egohmr.constants import BBOX_SCALE_UNIT_PX, SMPL_TO_OPENPOSE
from egohmr.data import egobody_format as fmt
from egohmr.geometry.cameras import perspective_project
from egohmr.synth.checks.report import Issue, frames_message

# Keypoints vs projected joints, per frame: the median error over the keypoints may reach this fraction of the box
# side plus 3 px (OpenPose noise, and OpenPose joints that are not exactly the SMPL joints), on at most
# MAX_BAD_FRACTION of the frames.
KP_TOL_FRAC = 0.25
MAX_BAD_FRACTION = 0.01
# The mean keypoint - projection offset over a file (median over frames of the per-frame mean) must stay below
# max(3 px, 3% of the median box side): EgoBody's OpenPose-vs-SMPL joint differences cancel between the left and right
# sides and average to ~1 px; an intrinsic off by a few pixels or keypoints of a resized image do not.
SYSTEMATIC_MIN_PX = 3.0
SYSTEMATIC_FRAC = 0.03
# Box vs the box of the confident keypoints: the centre within 25% of the box side, the side between 0.8x and 2.5x
# the keypoints' larger extent (EgoBody boxes enlarge the keypoint box; synthetic boxes are tight).
BOX_CENTRE_FRAC = 0.25
BOX_SIDE_RATIO = (0.8, 2.5)
# The PV camera's up direction (-y in OpenCV axes) in the y-up scene frame: a head-mounted camera tilts less than 75
# degrees from upright (cos 75 = 0.26).
MIN_UP_COS = 0.26
# Gap between the body and what supports it, median over a recording (m): a standing SMPL body's ankles are ~0.08
# m above the floor, a sitting body's pelvis joint ~0.1 m above the seat; -0.10..0.30 leaves room for scan noise
# and raised feet.
FLOOR_HEIGHT_RANGE_M = (-0.10, 0.30)
FLOOR_RADIUS_M = 1.0  # scene vertices within this horizontal distance of the pelvis give the local floor
FLOOR_PERCENTILE = 2.0
SUPPORT_RADIUS_M = 0.3  # a joint is supported by the scene surface within this horizontal distance below it
FLOOR_FRAMES = 20  # frames per recording whose support is measured


def _column(data: dict[str, np.ndarray], key: str) -> np.ndarray:
    return np.asarray(data[key], np.float64).reshape(len(data["imgname"]))


def check_keypoints(name: str, data: dict[str, np.ndarray], image_size: tuple[int, int] | None) -> list[Issue]:
    """Keypoints vs the projected joints (gross per-frame errors, then a systematic offset), keypoints inside the
    image, and the box vs the keypoints on the frames whose keypoints agree."""
    names = data["imgname"]
    joints = np.asarray(data["3d_joints_pv"], np.float64)
    src = np.asarray(SMPL_TO_OPENPOSE)
    usable = src < joints.shape[1]
    P = joints[:, src[usable]]  # (N, K', 3) PV, metres
    uv = perspective_project(P, *(_column(data, k) for k in ("fx", "fy", "cx", "cy")))  # (N, K', 2) px
    kp = np.asarray(data["valid_keypoints"], np.float64)[:, usable]
    vis = (kp[..., 2] > 0) & (P[..., 2] > 0)
    delta = kp[..., :2] - uv
    err = np.linalg.norm(delta, axis=-1)
    side = _column(data, "scale") * BBOX_SCALE_UNIT_PX
    tol = KP_TOL_FRAC * np.maximum(side, 50.0) + 3.0
    has = vis.any(axis=1)
    med = np.array([np.median(e[m]) if m.any() else 0.0 for e, m in zip(err, vis, strict=True)])
    gross = med > tol
    issues = []
    if gross.mean() > MAX_BAD_FRACTION:
        what = f"disagree with the projected 3d_joints_pv (median error > {KP_TOL_FRAC:.2f} x box side + 3 px)"
        issues.append(Issue(name, "valid_keypoints", frames_message(gross, names, what, np.round(med, 1))))
    else:
        issues += _check_systematic(name, names, delta, vis & ~gross[:, None], side)
        issues += _check_box(name, data, kp, ~gross & has)
    if image_size is not None:
        W, H = image_size
        outside = (vis & ((kp[..., 0] < -1) | (kp[..., 0] > W + 1) | (kp[..., 1] < -1) | (kp[..., 1] > H + 1))).any(1)
        if outside.any():
            what = f"have confident keypoints outside the {W}x{H} image"
            issues.append(Issue(name, "valid_keypoints", frames_message(outside, names, what)))
    return issues


def _check_systematic(name, names, delta, vis, side) -> list[Issue]:
    frames = vis.any(axis=1)
    if not frames.any():
        return []
    per_frame = np.array([d[m].mean(axis=0) for d, m in zip(delta[frames], vis[frames], strict=True)])  # (F, 2)
    offset = np.median(per_frame, axis=0)
    tol = max(SYSTEMATIC_MIN_PX, SYSTEMATIC_FRAC * float(np.median(side[frames])))
    if np.linalg.norm(offset) <= tol:
        return []
    largest = int(np.nonzero(frames)[0][np.argmax(per_frame @ offset)])
    return [
        Issue(
            name,
            "valid_keypoints",
            f"keypoints are offset from the projected 3d_joints_pv by ({offset[0]:.1f}, {offset[1]:.1f}) px on "
            f"average (tolerance {tol:.1f} px: wrong cx/cy or fx/fy, or keypoints of another image size); "
            f"largest on {names[largest]}",
        )
    ]


def _check_box(name, data, kp, frames) -> list[Issue]:
    names = data["imgname"]
    conf = kp[..., 2] > 0
    usable = frames & (conf.sum(axis=1) >= 2)
    if not usable.any():
        return []
    lo = np.where(conf[..., None], kp[..., :2], np.inf).min(axis=1)
    hi = np.where(conf[..., None], kp[..., :2], -np.inf).max(axis=1)
    side = _column(data, "scale") * BBOX_SCALE_UNIT_PX
    centre = np.asarray(data["center"], np.float64)
    off = np.linalg.norm(centre - (lo + hi) / 2, axis=1) / side
    ratio = side / np.maximum((hi - lo).max(axis=1), 1.0)
    issues = []
    bad_centre = usable & (off > BOX_CENTRE_FRAC)
    if bad_centre.any():
        what = f"have a box centre more than {BOX_CENTRE_FRAC:.2f} x box side from the keypoints' box centre"
        issues.append(Issue(name, "center", frames_message(bad_centre, names, what, np.round(off, 2))))
    bad_side = usable & ((ratio < BOX_SIDE_RATIO[0]) | (ratio > BOX_SIDE_RATIO[1]))
    if bad_side.any():
        what = f"have a box side (scale x 200) outside {BOX_SIDE_RATIO} x the keypoints' extent"
        issues.append(Issue(name, "scale", frames_message(bad_side, names, what, np.round(ratio, 2))))
    return issues


def check_scene_geometry(
    name: str,
    data: dict[str, np.ndarray],
    recordings: np.ndarray,
    scene2pv: np.ndarray,
    valid: np.ndarray,
    scene_vertices: dict[str, np.ndarray | None],
    rec2scene: dict[str, str],
) -> list[Issue]:
    """Camera upright in the scene and bodies on the scene floor.

    Args:
        recordings: (N,) recording of each frame. scene2pv: (N, 4, 4) scene -> PV (OpenCV) transforms, valid where
            ``valid`` (N,) is True. scene_vertices: scene -> (V, 3) y-up vertices (None: unreadable).
    """
    names = data["imgname"]
    issues = []
    up_cam = np.array([0.0, -1.0, 0.0])
    up_scene = np.einsum("nji,j->ni", scene2pv[:, :3, :3], up_cam)  # R^T applied: PV -> scene
    tilted = valid & (up_scene[:, 1] < MIN_UP_COS)
    if tilted.any():
        angle = np.degrees(np.arccos(np.clip(up_scene[:, 1], -1, 1)))
        what = "have a PV camera that is not upright in the y-up scene (tilt in degrees; wrong world2pv axes?)"
        issues.append(Issue(fmt.TRANSF_FILE, "trans_world2pv", frames_message(tilted, names, what, np.round(angle))))
    joints_pv = np.asarray(data["3d_joints_pv"], np.float64)[:, :24]
    for rec in sorted(set(recordings[valid].tolist())):
        vertices = scene_vertices.get(rec2scene.get(rec, ""))
        sel = valid & (recordings == rec)
        if vertices is None:
            continue
        heights = _heights_above_floor(joints_pv[sel], scene2pv[sel], vertices)
        frame = names[np.nonzero(sel)[0][0]]
        if np.isnan(heights).all():
            issues.append(Issue(name, "3d_joints_pv", f"recording {rec}: no scene mesh below the body ({frame})"))
            continue
        h = float(np.nanmedian(heights))
        lo, hi = FLOOR_HEIGHT_RANGE_M
        if not lo <= h <= hi:
            verb = "floats" if h > hi else "sinks"
            issues.append(
                Issue(
                    name,
                    "3d_joints_pv",
                    f"recording {rec}: the body {verb} {abs(h):.2f} m {'above' if h > hi else 'into'} the floor of "
                    f"scene {rec2scene[rec]} (median support gap; allowed {lo}..{hi} m), e.g. {frame}: a displaced "
                    "scene mesh or a wrong kinect12_to_world / trans_kinect2holo",
                )
            )
    return issues


def _heights_above_floor(joints_pv: np.ndarray, scene2pv: np.ndarray, vertices: np.ndarray) -> np.ndarray:
    """(T,) height (m) of the body above what supports it, for up to FLOOR_FRAMES frames: the smallest gap between a
    joint and the highest scene vertex below it within SUPPORT_RADIUS_M horizontally (feet on the floor, pelvis on a
    seat); negative (the lowest joint under the local floor) when the body sinks. NaN: no scene vertex near."""
    pv2scene = fmt.invert_rigid_np(scene2pv)
    joints = np.einsum("tij,tkj->tki", pv2scene[:, :3, :3], joints_pv) + pv2scene[:, None, :3, 3]  # (T, 24, 3)
    picks = np.unique(np.linspace(0, len(joints) - 1, min(len(joints), FLOOR_FRAMES)).astype(int))
    out = np.full(len(joints), np.nan)
    for t in picks:
        J = joints[t]
        near = vertices[np.linalg.norm(vertices[:, [0, 2]] - J[0, [0, 2]], axis=1) < FLOOR_RADIUS_M]
        if not len(near):
            continue
        sunk = J[:, 1].min() - np.percentile(near[:, 1], FLOOR_PERCENTILE)
        if sunk < 0:
            out[t] = sunk
            continue
        gaps = []
        for j in J:
            below = near[
                (np.linalg.norm(near[:, [0, 2]] - j[[0, 2]], axis=1) < SUPPORT_RADIUS_M) & (near[:, 1] <= j[1])
            ]
            if len(below):
                gaps.append(j[1] - below[:, 1].max())
        out[t] = min(gaps) if gaps else sunk
    return out
