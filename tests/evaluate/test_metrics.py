"""Hand-computed cases for every metric function."""

from __future__ import annotations

import math

import numpy as np
import torch

from egohmr.evaluate import metrics as M


def rotation_z(angle: float) -> np.ndarray:
    c, s = math.cos(angle), math.sin(angle)
    return np.array([[c, -s, 0.0], [s, c, 0.0], [0.0, 0.0, 1.0]])


def test_point_errors_known_distance_and_torch_input():
    pred = torch.tensor([[[3.0, 4.0, 0.0], [1.0, 1.0, 1.0]]])  # (1, 2, 3)
    gt = np.array([[[0.0, 0.0, 0.0], [1.0, 1.0, 1.0]]])
    err = M.point_errors(pred, gt)
    assert err.shape == (1, 2)
    np.testing.assert_allclose(err, [[5.0, 0.0]])


def test_pelvis_aligned_subtracts_joint_zero():
    joints = np.array([[[1.0, 2.0, 3.0], [2.0, 2.0, 3.0]]])
    verts = np.array([[[1.0, 2.0, 4.0]]])
    np.testing.assert_allclose(M.pelvis_aligned(verts, joints), [[[0.0, 0.0, 1.0]]])
    np.testing.assert_allclose(M.pelvis_aligned(joints, joints)[0, 1], [1.0, 0.0, 0.0])


def test_procrustes_undoes_a_similarity_transform():
    rng = np.random.default_rng(0)
    gt = rng.normal(size=(2, 24, 3))
    R = rotation_z(0.7)
    pred = 1.3 * gt @ R.T + np.array([0.1, -0.2, 0.3])  # (2, 24, 3)
    assert M.point_errors(pred, gt).mean() > 0.1
    pa = M.procrustes_errors(pred, gt)
    assert pa.shape == (2, 24)
    np.testing.assert_allclose(pa, 0.0, atol=1e-9)


def test_masked_procrustes_uses_only_masked_joints_corrected():
    rng = np.random.default_rng(1)
    gt = rng.normal(size=(1, 10, 3))
    pred = 0.8 * gt @ rotation_z(-0.4).T + 0.5
    pred[0, 7:] += 1.0  # joints 7..9 wrong and masked out
    mask = np.zeros((1, 10), dtype=bool)
    mask[0, :7] = True
    err = M.procrustes_errors(pred, gt, mask, official=False)
    np.testing.assert_allclose(err[0, :7], 0.0, atol=1e-9)
    assert (err[0, 7:] > 0.5).all()


def test_masked_procrustes_falls_back_to_all_joints_below_three():
    rng = np.random.default_rng(2)
    gt = rng.normal(size=(1, 6, 3))
    pred = gt @ rotation_z(0.3).T
    mask = np.array([[True, True, False, False, False, False]])
    np.testing.assert_allclose(M.procrustes_errors(pred, gt, mask), M.procrustes_errors(pred, gt), atol=1e-12)


def test_split_sums():
    errors = np.array([[[1.0, 2.0, 4.0], [10.0, 20.0, 40.0]]])  # (B=1, S=2, P=3)
    visible = np.array([[True, False, True]])
    vis, invis = M.split_sums(errors, visible)
    np.testing.assert_allclose(vis, [[5.0, 50.0]])
    np.testing.assert_allclose(invis, [[2.0, 20.0]])


def test_std_across_two_samples():
    joints = np.zeros((1, 2, 24, 3))
    joints[0, 1] = 0.02  # every coordinate differs by 2 cm between the two samples
    np.testing.assert_allclose(M.std_joints(joints), [0.02 / math.sqrt(2)])
    mask = np.zeros((1, 24), dtype=bool)
    mask[0, :3] = True
    joints[0, 1, 3:] = 0.0  # only the first 3 joints vary
    np.testing.assert_allclose(M.std_joints(joints, mask), [0.02 / math.sqrt(2)])
    np.testing.assert_allclose(M.std_joints(joints, ~mask), [0.0])


def test_std_and_apd_undefined_cases():
    one_sample = np.zeros((2, 1, 24, 3))
    assert np.isnan(M.std_joints(one_sample)).all()
    assert np.isnan(M.apd_joints(one_sample)).all()
    joints = np.random.default_rng(0).normal(size=(1, 3, 24, 3))
    no_joint = np.zeros((1, 24), dtype=bool)
    assert np.isnan(M.std_joints(joints, no_joint)).all()
    assert np.isnan(M.apd_joints(joints, no_joint)).all()


def test_apd_known_pairwise_distance():
    joints = np.zeros((1, 2, 24, 3))
    joints[0, 1, :, :2] = [0.03, 0.04]  # 5 cm between the two samples at every joint
    np.testing.assert_allclose(M.apd_joints(joints), [0.05])
    np.testing.assert_allclose(M.apd_joints(joints, official=True), [0.025])


def test_apd_three_samples_on_a_line():
    joints = np.zeros((1, 3, 1, 3))
    joints[0, :, 0, 0] = [0.0, 1.0, 3.0]  # pair distances 1, 3, 2 -> mean 2
    np.testing.assert_allclose(M.apd_joints(joints), [2.0])


def test_best_of_n_picks_smallest_invisible_sum():
    sums = np.array([[3.0, 1.0, 2.0], [0.5, 4.0, 1.0], [2.0, 2.0, 2.0]])
    best, index = M.best_of_n_sum(sums)
    np.testing.assert_array_equal(index, [1, 0, 0])
    np.testing.assert_allclose(best, [1.0, 0.5, 2.0])


def test_collision_ratio_box_body():
    from tests.evaluate.helpers import box_mesh

    vertices, faces = box_mesh()
    points = np.array([[0.0, 0.0, 0.0], [0.2, -0.3, 0.1], [2.0, 0.0, 0.0], [0.0, 0.9, 0.0]])
    bodies = np.stack([vertices, vertices + np.array([10.0, 0.0, 0.0])])  # sample 2 far away
    np.testing.assert_allclose(M.collision_ratio(points, bodies, faces), [0.5, 0.0])


def test_min_distance_equals_brute_force_near_and_far():
    rng = np.random.default_rng(4)
    scene = rng.uniform(-1, 1, (500, 3))
    bodies = rng.normal(0, 0.2, (3, 300, 3)) + np.array([[[0, 0, 0]], [[1.3, 0, 0]], [[4.0, 4.0, 0]]])
    brute = np.linalg.norm(bodies[:, :, None] - scene[None, None], axis=-1).min(axis=(1, 2))
    assert brute[0] < 0.1 < brute[2]  # one body among the points, one far from all of them
    np.testing.assert_allclose(M.min_body_scene_distance(scene, bodies), brute, rtol=1e-12)


def test_contact_min_distance_and_modes():
    from tests.evaluate.helpers import box_mesh

    vertices, _ = box_mesh()
    scene = np.array([[0.6, 0.5, 0.5]])  # 0.1 m from the corner (0.5, 0.5, 0.5)
    dist = M.min_body_scene_distance(scene, vertices[None])
    np.testing.assert_allclose(dist, [0.1])
    assert M.contact(dist, 0.02, official=False).tolist() == [0.0]
    assert M.contact(dist, 0.02, official=True).tolist() == [1.0]  # 0.1^2 = 0.01 < 0.02
