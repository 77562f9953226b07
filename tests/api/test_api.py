"""EgoHMRPipeline on a synthetic frame with the shipped cpu checkpoints: shapes, finiteness, visibility, errors."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from egohmr.pipeline import inputs as I
from tests.api.frames import load_frame

FAST = {"num_samples": 2, "sampler": "ddim", "steps": 5}


@pytest.fixture(scope="module")
def frame(tiny_demo):
    return load_frame(tiny_demo / "dataset", 0)


def _run(pipe, frame, seed: int = 0, **kwargs):
    args = {"world2pv": frame.scene2pv, "keypoints_op25": frame.keypoints, **FAST, **kwargs}
    return pipe(
        frame.image,
        frame.intrinsics,
        frame.bbox,
        frame.verts_scene,
        generator=torch.Generator().manual_seed(seed),
        **args,
    )


def test_shapes_finite_and_scene_crop(pipe, frame):
    r = _run(pipe, frame)
    S, V = 2, pipe.body.num_vertices
    assert r.betas.shape == (S, 10)
    assert r.global_orient_rotmat_pv.shape == (S, 3, 3)
    assert r.body_pose_rotmat.shape == (S, 23, 3, 3)
    assert r.transl_pv.shape == (3,)
    assert r.vertices_pv.shape == (S, V, 3) and r.joints_pv.shape == (S, 24, 3)
    assert r.visibility.shape == (24,) and r.visibility.dtype == bool
    assert r.scene_points_pv.shape == (pipe.stage2.cfg.data.num_scene_points_file, 3)
    for arr in (r.betas, r.global_orient_rotmat_pv, r.body_pose_rotmat, r.vertices_pv, r.joints_pv, r.scene_points_pv):
        assert np.all(np.isfinite(arr))
    rot = r.global_orient_rotmat_pv.astype(np.float64)
    np.testing.assert_allclose(rot @ rot.transpose(0, 2, 1), np.broadcast_to(np.eye(3), rot.shape), atol=1e-4)
    # the stage-2 crop lies in the 2 m square around the stage-1 translation (scene frame, y up)
    pv2scene = np.linalg.inv(frame.scene2pv)
    cube = r.scene_points_pv @ pv2scene[:3, :3].T + pv2scene[:3, 3]
    center = pv2scene[:3, :3] @ r.transl_pv + pv2scene[:3, 3]
    horizontal = np.hypot(cube[:, 0] - center[0], cube[:, 2] - center[2])
    assert horizontal.max() <= np.sqrt(2) + 1e-3
    assert np.ptp(cube[:, 1]) <= 2.0 + 1e-3
    # the body sits at the stage-1 translation: pelvis near transl (within a body-size offset)
    assert np.linalg.norm(r.joints_pv[:, 0] - r.transl_pv, axis=-1).max() < 0.5
    # with a stage-1 translation close enough to the GT (weak cpu model: within 1.5 m)
    assert np.linalg.norm(r.transl_pv - frame.transl_pv) < 1.5


def test_seeded_and_scene_as_points_or_file(pipe, frame):
    a = _run(pipe, frame, seed=3)
    b = _run(pipe, frame, seed=3)
    np.testing.assert_array_equal(a.vertices_pv, b.vertices_pv)
    c = _run(pipe, frame, seed=4)
    assert not np.array_equal(a.vertices_pv, c.vertices_pv)
    # the mesh file in the world frame gives the same result as its vertices
    d = pipe(
        frame.image,
        frame.intrinsics,
        frame.bbox,
        frame.mesh_path,
        world2pv=frame.scene2pv,
        keypoints_op25=frame.keypoints,
        generator=torch.Generator().manual_seed(3),
        **FAST,
    )
    np.testing.assert_allclose(d.vertices_pv, a.vertices_pv, atol=1e-5)


def test_settings_argument_equals_the_shorthands(pipe, frame):
    import dataclasses

    settings = dataclasses.replace(pipe.default_settings, num_samples=2, sampler="ddim", spacing="ddim5")
    by_settings = pipe(
        frame.image,
        frame.intrinsics,
        frame.bbox,
        frame.verts_scene,
        world2pv=frame.scene2pv,
        keypoints_op25=frame.keypoints,
        settings=settings,
        generator=torch.Generator().manual_seed(5),
    )
    np.testing.assert_array_equal(by_settings.vertices_pv, _run(pipe, frame, seed=5).vertices_pv)
    unguided = _run(pipe, frame, seed=5, settings=dataclasses.replace(settings, guidance=dataclasses.replace(
        settings.guidance, enabled=False)))  # fmt: skip
    assert not np.array_equal(unguided.vertices_pv, by_settings.vertices_pv)


def test_visibility_rules(pipe, frame):
    from egohmr.data.visibility import openpose_visibility_smpl24

    kp = frame.keypoints.copy()
    kp[10:, 2] = 0.0  # right leg onwards undetected
    r = _run(pipe, frame, keypoints_op25=kp)
    expected = openpose_visibility_smpl24(torch.from_numpy(kp).float(), loosen=True).numpy()
    assert r.visibility_source == "keypoints"
    np.testing.assert_array_equal(r.visibility, expected)
    # without keypoints: stage-1 mode joints inside the box and the image
    r2 = _run(pipe, frame, keypoints_op25=None)
    h, w = frame.image.shape[:2]
    assert r2.visibility_source == "bbox"
    np.testing.assert_array_equal(
        r2.visibility, I.box_visibility(r2.stage1_joints_pv.astype(np.float64), frame.intrinsics, frame.bbox, w, h)
    )
    # a box covering only the top-left image corner hides the joints outside it
    small = (0.0, 0.0, 1.0, 1.0)
    r3 = _run(pipe, frame, keypoints_op25=None, guidance=False)
    vis_small = I.box_visibility(r3.stage1_joints_pv.astype(np.float64), frame.intrinsics, small, w, h)
    assert not vis_small.any()


def test_box_visibility_unit():
    joints = np.array([[0.0, 0.0, 2.0], [0.5, 0.0, 2.0], [0.0, 0.0, -1.0], [5.0, 0.0, 1.0]])
    vis = I.box_visibility(joints, (100.0, 100.0, 50.0, 50.0), (40.0, 40.0, 60.0, 60.0), 100, 100)
    # centre projects to (50, 50): in; 0.5 m right -> u = 75: outside the box; behind: no; far right: outside image
    np.testing.assert_array_equal(vis, [True, False, False, False])
    vis_big = I.box_visibility(joints, (100.0, 100.0, 50.0, 50.0), (-50.0, -50.0, 500.0, 500.0), 100, 100)
    np.testing.assert_array_equal(vis_big, [True, True, False, False])


def test_square_box_matches_dataset():
    from egohmr.data.crop import bbox_from_center_scale

    center, size = I.square_box((100.0, 50.0, 300.0, 130.0))
    ref_c, ref_s = bbox_from_center_scale(np.array([200.0, 90.0]), 200.0 / 200.0)
    np.testing.assert_allclose(center, ref_c)
    assert size == pytest.approx(float(ref_s)) == pytest.approx(240.0)


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"bbox_px": (5000.0, 10.0, 5100.0, 90.0)}, "outside"),
        ({"bbox_px": (50.0, 10.0, 40.0, 90.0)}, "empty"),
        ({"bbox_px": (np.nan, 10.0, 40.0, 90.0)}, "NaN"),
        ({"intrinsics": (-100.0, 100.0, 160.0, 90.0)}, "fx must be > 0"),
        ({"intrinsics": (1e7, 1e7, 160.0, 90.0)}, "implausible"),
        ({"intrinsics": (100.0, 100.0, 1e4, 90.0)}, "principal point"),
        ({"intrinsics": (100.0, 100.0, 160.0)}, "4 numbers"),
        ({"scene": np.zeros((10, 2))}, "shape (P, 3)"),
        ({"scene": np.full((10, 3), np.nan)}, "NaN"),
        ({"keypoints_op25": np.zeros((24, 3))}, "(25, 3)"),
        ({"image": np.zeros((10, 10), np.uint8)}, "uint8 RGB"),
        ({"num_samples": 0}, "num_samples"),
        ({"world2pv": np.eye(3)}, "4x4"),
    ],
)
def test_input_errors(pipe, frame, change, message):
    args = {
        "image": frame.image,
        "intrinsics": frame.intrinsics,
        "bbox_px": frame.bbox,
        "scene": frame.verts_scene,
        "world2pv": frame.scene2pv,
    } | change
    with pytest.raises(ValueError, match=message.replace("(", r"\(").replace(")", r"\)")):
        pipe(**args, **{k: v for k, v in FAST.items() if k not in change})


def test_scene_far_from_body(pipe, frame):
    far = np.random.default_rng(0).uniform(-1, 1, (500, 3)) + np.array([30.0, 0.0, 40.0])  # PV frame, 50 m away
    with pytest.raises(ValueError, match="no point within the 2 m cube around the predicted body") as err:
        pipe(frame.image, frame.intrinsics, frame.bbox, far, **FAST)
    assert "500 points" in str(err.value)
    behind = np.random.default_rng(0).uniform(-1, 1, (50, 3)) - np.array([0.0, 0.0, 5.0])
    with pytest.raises(ValueError, match="in front of the camera"):
        pipe(frame.image, frame.intrinsics, frame.bbox, behind, **FAST)
