"""EgoHMR metrics as pure functions: numpy or torch arrays in, float64 numpy arrays (or floats) out.

Definitions follow reference-egohmr.md section 5 (official `test_egohmr.py` / `test_prohmr_scene.py`). Functions that
differ between the official code and the corrected definition take `official: bool`; docs/metrics.md lists the quirks.
All distances are metres here; `aggregate` converts to millimetres for the reported `*_mm` numbers.

Dimension letters: B frames, S samples per frame, J joints (24), V vertices, P points, F faces.
"""

from __future__ import annotations

import numpy as np

from egohmr.evaluate.arrays import ArrayLike, to_numpy
from egohmr.evaluate.inside import InsideTest, default_inside_test

PELVIS_INDEX = 0


def point_errors(pred_points: ArrayLike, gt_points: ArrayLike) -> np.ndarray:
    """Euclidean error of each point.

    Args:
        pred_points: (..., P, 3) float, metres. Predicted joints or vertices.
        gt_points: (..., P, 3) float, metres, same frame; broadcast against `pred_points` (e.g. (B, 1, P, 3)).

    Returns:
        (..., P) float64, metres.
    """
    pred, gt = to_numpy(pred_points), to_numpy(gt_points)
    return np.sqrt(((pred - gt) ** 2).sum(axis=-1))


def pelvis_aligned(points: ArrayLike, joints: ArrayLike) -> np.ndarray:
    """Subtract the pelvis (joint 0) of `joints` from `points`.

    Args:
        points: (..., P, 3) float, metres. Joints or vertices.
        joints: (..., J, 3) float, metres. The body's joints; joint 0 is the pelvis.

    Returns:
        (..., P, 3) float64, metres, pelvis-centred.
    """
    pts, jts = to_numpy(points), to_numpy(joints)
    return pts - jts[..., PELVIS_INDEX : PELVIS_INDEX + 1, :]


def procrustes_errors(
    pred_points: ArrayLike, gt_points: ArrayLike, align_mask: ArrayLike | None = None, official: bool = False
) -> np.ndarray:
    """Per-point error after a similarity (scale, rotation, translation) Procrustes alignment of pred onto GT.

    The transform is estimated from the points where `align_mask` is True (all points if None) and applied to all
    points; the error is returned for every point.

    - corrected (`official=False`): the transform uses only the masked points. Frames with fewer than 3 masked points
      (no well-defined rotation) fall back to all points.
    - official: the unmasked points are set to zero in both sets and stay in the centroid and cross-covariance
      (`utils/pose_utils.py::compute_similarity_transform_with_vis_mask`, reference-egohmr.md section 5).

    Args:
        pred_points: (..., P, 3) float, metres (pelvis-aligned joints in the official PA-MPJPE).
        gt_points: (..., P, 3) float, metres; broadcast against `pred_points`.
        align_mask: (..., P) bool or None; broadcast against the points. Points that define the alignment.
        official: reproduce the official zero-filled masked Procrustes.

    Returns:
        (..., P) float64, metres.
    """
    import torch

    from egohmr.geometry.procrustes import similarity_procrustes, similarity_procrustes_zero_filled

    pred, gt = np.broadcast_arrays(to_numpy(pred_points), to_numpy(gt_points))
    pred_t = torch.from_numpy(np.array(pred))  # copies: broadcast views are read-only
    gt_t = torch.from_numpy(np.array(gt))
    if align_mask is None:
        aligned = similarity_procrustes(pred_t, gt_t)
    else:
        mask = np.array(np.broadcast_to(to_numpy(align_mask, dtype=bool), pred.shape[:-1]))
        if official:
            aligned = similarity_procrustes_zero_filled(pred_t, gt_t, torch.from_numpy(mask))
        else:
            enough = mask.sum(axis=-1, keepdims=True) >= 3  # (..., 1)
            mask = np.where(enough, mask, True)
            aligned = similarity_procrustes(pred_t, gt_t, torch.from_numpy(mask))
    aligned = aligned.numpy()
    return point_errors(aligned, gt)


def split_sums(errors: ArrayLike, visible: ArrayLike) -> tuple[np.ndarray, np.ndarray]:
    """Sum of errors over visible and over invisible elements of each frame and sample.

    Args:
        errors: (B, S, P) float, per-element errors of S samples.
        visible: (B, P) bool, GT visibility of each element.

    Returns:
        (vis_sum, invis_sum): each (B, S) float64.
    """
    err = to_numpy(errors)
    vis = to_numpy(visible, dtype=bool)[:, None, :]  # (B, 1, P)
    return (err * vis).sum(axis=-1), (err * ~vis).sum(axis=-1)


def std_joints(pred_joints_aligned: ArrayLike, joint_mask: ArrayLike | None = None) -> np.ndarray:
    """Diversity: unbiased standard deviation across samples, averaged over the selected joints and xyz.

    Args:
        pred_joints_aligned: (B, S, J, 3) float, metres, pelvis-aligned predicted joints.
        joint_mask: (B, J) bool or None (all joints). Joints to average over.

    Returns:
        (B,) float64, metres. NaN for frames with S < 2 or no selected joint.
    """
    joints = to_numpy(pred_joints_aligned)
    num_samples = joints.shape[1]
    if num_samples < 2:
        return np.full(joints.shape[0], np.nan)
    std = joints.std(axis=1, ddof=1).mean(axis=-1)  # (B, J)
    mask = np.ones(std.shape, dtype=bool) if joint_mask is None else to_numpy(joint_mask, dtype=bool)
    count = mask.sum(axis=-1)
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(count > 0, (std * mask).sum(axis=-1) / count, np.nan)


def apd_joints(
    pred_joints_aligned: ArrayLike, joint_mask: ArrayLike | None = None, official: bool = False
) -> np.ndarray:
    """Diversity: average pairwise distance (APD) between samples, per joint, averaged over the selected joints.

    Notation: APD = sum_{i != j} sum_{k in mask} ||x_ik - x_jk|| / (|mask| S (S - 1)) over ordered sample pairs.
    The official code divides once more by 2 (reference-egohmr.md section 5), i.e. reports half the APD.

    Args:
        pred_joints_aligned: (B, S, J, 3) float, metres, pelvis-aligned predicted joints.
        joint_mask: (B, J) bool or None (all joints). Joints to average over.
        official: apply the official extra division by 2.

    Returns:
        (B,) float64, metres. NaN for frames with S < 2 or no selected joint.
    """
    joints = to_numpy(pred_joints_aligned)
    num_frames, num_samples, num_joints = joints.shape[:3]
    if num_samples < 2:
        return np.full(num_frames, np.nan)
    pair = np.sqrt(((joints[:, :, None] - joints[:, None, :]) ** 2).sum(axis=-1))  # (B, S, S, J)
    per_joint = pair.sum(axis=(1, 2))  # (B, J)
    mask = np.ones((num_frames, num_joints), dtype=bool) if joint_mask is None else to_numpy(joint_mask, dtype=bool)
    count = mask.sum(axis=-1)
    with np.errstate(divide="ignore", invalid="ignore"):
        apd = np.where(count > 0, (per_joint * mask).sum(axis=-1) / count, np.nan) / (num_samples * (num_samples - 1))
    return apd / 2.0 if official else apd


def best_of_n_sum(invis_sums: ArrayLike) -> tuple[np.ndarray, np.ndarray]:
    """Pick, per frame, the sample with the smallest summed invisible-joint error (official min-of-N MPJPE-invis).

    Args:
        invis_sums: (B, S) float, per-sample sums of invisible-joint errors (`split_sums(...)[1]`).

    Returns:
        (best_sum (B,) float64, best_index (B,) int64). Ties pick the first sample (numpy argmin), as official.
    """
    sums = to_numpy(invis_sums)
    index = np.argmin(sums, axis=1)
    return sums[np.arange(sums.shape[0]), index], index


def collision_ratio(
    scene_points_pv: ArrayLike, pred_vertices_pv: ArrayLike, faces: ArrayLike, inside_test: InsideTest | None = None
) -> np.ndarray:
    """Fraction of scene points inside each predicted body (official: COAP occupancy > 0.5 over the 20,000 cube points).

    Args:
        scene_points_pv: (P, 3) float, metres, PV frame. Scene cube points of one frame.
        pred_vertices_pv: (S, V, 3) float, metres, PV frame (translation included). Posed predicted bodies.
        faces: (F, 3) int. Body mesh triangles.
        inside_test: `InsideTest`; `inside.default_inside_test()` if None.

    Returns:
        (S,) float64 in [0, 1]: #points inside / P.
    """
    test = inside_test if inside_test is not None else default_inside_test()
    points = to_numpy(scene_points_pv)
    verts = to_numpy(pred_vertices_pv)
    tri = to_numpy(faces, dtype=np.int64)
    if points.shape[0] == 0:
        return np.zeros(verts.shape[0])
    return np.array([np.count_nonzero(test(points, v, tri)) / points.shape[0] for v in verts], dtype=np.float64)


_NEAR_SEARCH_M = 0.1
"""Bound of the first, pruned nearest-point search of `min_body_scene_distance` (metres)."""


def min_body_scene_distance(scene_points_pv: ArrayLike, pred_vertices_pv: ArrayLike) -> np.ndarray:
    """Smallest distance between any body vertex and its nearest scene point, per sample.

    Args:
        scene_points_pv: (P, 3) float, metres, PV frame.
        pred_vertices_pv: (S, V, 3) float, metres, PV frame.

    Returns:
        (S,) float64, metres (not squared). inf if there are no scene points.
    """
    from scipy.spatial import cKDTree

    points = to_numpy(scene_points_pv)
    verts = to_numpy(pred_vertices_pv)
    if points.shape[0] == 0:
        return np.full(verts.shape[0], np.inf)
    # Unique points: preprocessed cubes may repeat points (sampling with replacement), which degrades the tree.
    tree = cKDTree(np.unique(points, axis=0))
    # A bounded search is exact below its bound and prunes the far vertices early. A body with nothing within the
    # bound (floating above a floor-only cube) is searched again with the bound doubled until a point is found: each
    # pass stays pruned, where one unbounded search over every vertex costs seconds.
    dist, _ = tree.query(verts.reshape(-1, 3), k=1, distance_upper_bound=_NEAR_SEARCH_M)
    result = dist.reshape(verts.shape[0], -1).min(axis=-1)
    for s in np.flatnonzero(~np.isfinite(result)):
        bound = _NEAR_SEARCH_M
        while not np.isfinite(result[s]):
            bound *= 2.0
            result[s] = tree.query(verts[s], k=1, distance_upper_bound=bound)[0].min()
    return result


def contact(min_distance_m: ArrayLike, threshold_m: float = 0.02, official: bool = False) -> np.ndarray:
    """Body-scene contact flag per sample.

    Official: the squared distance (pytorch3d `knn_points` / chamfer output) is compared with the threshold, so
    0.02 acts like a 0.141 m distance threshold. Corrected: the distance itself is compared.

    Args:
        min_distance_m: (...,) float, metres. Output of `min_body_scene_distance`.
        threshold_m: threshold in metres (official 0.02).
        official: compare the squared distance, as the official code does.

    Returns:
        (...,) float64, 1.0 for contact and 0.0 otherwise.
    """
    dist = to_numpy(min_distance_m)
    value = dist**2 if official else dist
    return (value < threshold_m).astype(np.float64)
