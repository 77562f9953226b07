"""EgoBodyDataset on the tiny official-layout EgoBody: fields, geometry (with augmentation), crops, workers, errors."""

from __future__ import annotations

import pickle
import shutil

import numpy as np
import pytest
import torch
from torch.utils.data import DataLoader

from egohmr.body import load_body_model
from egohmr.constants import IMAGENET_MEAN_RGB, IMAGENET_STD_RGB, SMPL_TO_OPENPOSE
from egohmr.data import egobody_format as ebf
from egohmr.data.dataset import SAMPLE_FIELDS, EgoBodyDataOptions, EgoBodyDataset
from egohmr.geometry.cameras import perspective_project
from egohmr.geometry.frames import apply_transform
from tests.data.conftest import S1_POINTS, S2_POINTS

CROP = 64
JOINT_KP = [k for k, j in enumerate(SMPL_TO_OPENPOSE) if j < 24]  # OpenPose keypoints that are SMPL joints


def _ds(tiny, **kw) -> EgoBodyDataset:
    base = {"root": str(tiny.root), "split": "train", "crop_size_px": CROP}
    base.update(kw)
    return EgoBodyDataset(EgoBodyDataOptions(**base))


def _scene_from_pv(tiny, ds, i, pts_pv):
    key = ebf.parse_imgname(ds.imgnames[i])
    transf = ebf.read_transf_matrices(ebf.transf_matrices_path(tiny.root))[key.recording]
    scene = ebf.recording_to_scene(ebf.data_info_path(tiny.root))[key.recording]
    k2s = ebf.read_kinect2scene(ebf.kinect2scene_path(tiny.root, key.recording, scene))
    T = ebf.invert_rigid_np(ebf.scene2pv(k2s, transf.kinect2holo, transf.world2pv[key.timestamp]))
    return apply_transform(T, pts_pv)


def test_fields_and_types(tiny_egobody, s1_dir):
    ds = _ds(tiny_egobody, stage=1, scene_dir=str(s1_dir), num_scene_points=S1_POINTS)
    sample = ds[0]
    assert set(sample) <= set(SAMPLE_FIELDS)
    assert set(SAMPLE_FIELDS) - set(sample) == {"transl_stage1_pv"}
    assert sample["img_crop"].shape == (3, CROP, CROP) and sample["img_crop"].dtype == torch.float32
    assert sample["scene_points_pv"].shape == (S1_POINTS, 3)
    assert sample["vis_smpl24"].dtype == torch.bool and sample["vis_smpl24"][0]
    assert sample["gender"].item() == 0 and ds[6]["gender"].item() == 1  # rec_b is female
    assert sample["img_size_px"].tolist() == [tiny_egobody.width, tiny_egobody.height]


@pytest.mark.parametrize("epoch", [0, 1, 2])
def test_augmented_geometry_is_consistent(tiny_egobody, epoch):
    ds = _ds(tiny_egobody, stage=1, augment=True, seed=3)
    ds.set_epoch(epoch)
    body = load_body_model(tiny_egobody.body_path, "male").double()
    flips = 0
    for i in range(len(ds)):
        s = ds[i]
        proj = perspective_project(s["joints3d_pv"].double(), s["fx"], s["fy"], s["cx"], s["cy"])  # (24, 2)
        kp = s["kp2d_op25_full_px"].double()
        np.testing.assert_allclose(proj[[SMPL_TO_OPENPOSE[k] for k in JOINT_KP]], kp[JOINT_KP, :2], atol=2e-3)
        # crop keypoints agree with the box
        crop_px = (s["kp2d_op25_crop_norm"][:, :2].double() + 0.5) * CROP
        expect = (kp[:, :2] - s["bbox_center_px"].double()) * CROP / s["bbox_size_px"].double() + CROP / 2
        np.testing.assert_allclose(crop_px, expect, atol=1e-3)
        # the GT body rebuilt from the augmented parameters lands on the augmented joints
        out = body(
            s["betas"].double()[None],
            s["global_orient_rotmat_pv"].double()[None],
            s["body_pose_rotmat"].double()[None],
            s["transl_pv"].double()[None],
        )
        flipped = bool(s["cx"].item() != pytest.approx(ds.intrinsics[i, 2], abs=1e-3))
        flips += flipped
        if flipped:  # the random test body is not mirror-symmetric: only the pelvis is exact
            np.testing.assert_allclose(out.joints[0, 0], s["joints3d_pv"][0].double(), atol=1e-5)
        else:
            np.testing.assert_allclose(out.joints[0], s["joints3d_pv"].double(), atol=1e-5)
    assert 0 < flips < len(ds) or epoch != 0


def _red_centroid(img_crop: torch.Tensor) -> np.ndarray:
    mean = 255 * torch.tensor(IMAGENET_MEAN_RGB)[:, None, None]
    std = 255 * torch.tensor(IMAGENET_STD_RGB)[:, None, None]
    rgb = (img_crop * std + mean).numpy()
    mask = (rgb[0] > 150) & (rgb[1] < 100)
    ys, xs = np.nonzero(mask)
    assert len(xs) > 0, "marker not found in the crop"
    w = rgb[0][ys, xs]
    return np.array([(xs * w).sum() / w.sum(), (ys * w).sum() / w.sum()])


def test_crop_content_follows_keypoints(tiny_egobody):
    ds = _ds(tiny_egobody, stage=1, augment=True, seed=5, crop_size_px=96)
    for i in range(len(ds)):
        s = ds[i]
        kp = (s["kp2d_op25_crop_norm"][8, :2].numpy() + 0.5) * 96  # MidHip marker
        np.testing.assert_allclose(_red_centroid(s["img_crop"]), kp, atol=1.0)


def test_stage1_scene_points_chain(tiny_egobody, s1_dir):
    ds = _ds(tiny_egobody, stage=1, scene_dir=str(s1_dir), num_scene_points=S1_POINTS, load_images=False)
    for i in (0, 2, 5):
        pts_pv = ds[i]["scene_points_pv"].double().numpy()
        scene = _scene_from_pv(tiny_egobody, ds, i, pts_pv)
        on_mesh = (np.abs(scene[:, 1]) < 1e-4) | (np.abs(scene[:, 2] - 4.0) < 1e-4)  # floor or wall plane
        assert on_mesh.all()
        if i in (0, 5):  # saved frames: every point in front of their own camera
            assert (pts_pv[:, 2] > 0).all()


def test_stage2_cube_around_body_and_stage1_translation(tiny_egobody, s2_root, tmp_path):
    n_train = 9
    results = tmp_path / "results.pkl"
    data = ebf.read_annotation_npz(ebf.annotation_path(tiny_egobody.root, "train"))
    with results.open("wb") as fh:
        pickle.dump({"pred_cam_full_list": data["transl_pv"].astype(np.float32) + 0.01}, fh)
    ds = _ds(
        tiny_egobody,
        stage=2,
        scene_dir=str(s2_root),
        num_scene_points=S2_POINTS,
        stage1_results=str(results),
        load_images=False,
    )
    assert len(ds) == n_train
    for i in range(n_train):
        s = ds[i]
        np.testing.assert_allclose(s["transl_stage1_pv"], data["transl_pv"][i] + 0.01, atol=1e-5)
        scene = _scene_from_pv(tiny_egobody, ds, i, s["scene_points_pv"].double().numpy())
        body_scene = _scene_from_pv(tiny_egobody, ds, i, s["joints3d_pv"].double().numpy()[:1])[0]
        d = np.hypot(scene[:, 0] - body_scene[0], scene[:, 2] - body_scene[2])
        assert d.max() < np.sqrt(2) * 1.5 + 0.3  # cube half-diagonal + shift + pelvis-vs-vertex-mean offset


@pytest.mark.parametrize("stage", [1, 2])
def test_dataloader_workers_match_single_process(tiny_egobody, s1_dir, s2_root, stage):
    scene_dir, npts = (s1_dir, S1_POINTS) if stage == 1 else (s2_root, S2_POINTS)
    ds = _ds(tiny_egobody, stage=stage, scene_dir=str(scene_dir), num_scene_points=npts, augment=True, seed=1)
    batches = {}
    for workers in (0, 2):
        loader = DataLoader(ds, batch_size=4, num_workers=workers, shuffle=False)
        batches[workers] = list(loader)
    assert len(batches[0]) == 3
    for b0, b2 in zip(batches[0], batches[2], strict=True):
        assert set(b0) == set(b2)
        for key in b0:
            torch.testing.assert_close(b0[key], b2[key], rtol=0, atol=0)
    assert batches[0][0]["scene_points_pv"].shape == (4, npts, 3)


def test_errors_name_file_and_field(tiny_egobody, tmp_path):
    root = tmp_path / "copy"
    shutil.copytree(tiny_egobody.root, root)
    # unknown recording in the transforms file
    transf = ebf.read_transf_matrices(ebf.transf_matrices_path(root))
    del transf["rec_b"]
    ebf.write_transf_matrices(ebf.transf_matrices_path(root), transf)
    with pytest.raises(ValueError, match=r"transf_matrices_all_seqs.pkl.*unknown recording 'rec_b'"):
        EgoBodyDataset(EgoBodyDataOptions(root=str(root), split="train"))
    # stage 2 needs the recording in data_info_release.csv
    with pytest.raises(ValueError, match=r"data_info_release.csv.*unknown recording 'rec_c'"):
        ebf.write_data_info(ebf.data_info_path(root), [{"recording_name": "rec_x", "scene_name": "s"}])
        EgoBodyDataset(EgoBodyDataOptions(root=str(root), split="test", stage=2, scene_dir=str(tmp_path)))
    # wrong shape / missing field in the npz
    path = ebf.annotation_path(root, "test")
    fields = ebf.read_annotation_npz(path)
    fields["valid_keypoints"] = fields["valid_keypoints"][:, :24]
    ebf.write_annotation_npz(path, fields)
    with pytest.raises(ValueError, match=r"egocapture_test_smpl.npz: field 'valid_keypoints'"):
        EgoBodyDataset(EgoBodyDataOptions(root=str(root), split="test"))
    del fields["transl_pv"]
    ebf.write_annotation_npz(path, fields)
    with pytest.raises(ValueError, match=r"field 'transl_pv' missing"):
        EgoBodyDataset(EgoBodyDataOptions(root=str(root), split="test"))
    # missing image, missing scene files, bad stage-1 results
    ds = EgoBodyDataset(EgoBodyDataOptions(root=str(tiny_egobody.root), split="test"))
    (root / ds.imgnames[0]).unlink()
    ds_copy = EgoBodyDataset(EgoBodyDataOptions(root=str(tiny_egobody.root), split="test"))
    ds_copy.options = EgoBodyDataOptions(root=str(root), split="test")
    with pytest.raises(FileNotFoundError, match="missing image"):
        ds_copy[0]
    with pytest.raises(FileNotFoundError, match="pcd_verts_dict_test.pkl"):
        EgoBodyDataset(EgoBodyDataOptions(root=str(tiny_egobody.root), split="test", scene_dir=str(tmp_path)))
    bad = tmp_path / "bad.pkl"
    bad.write_bytes(pickle.dumps({"pred_cam_full_list": np.zeros((2, 3))}))
    with pytest.raises(ValueError, match="'pred_cam_full_list' must be"):
        EgoBodyDataset(EgoBodyDataOptions(root=str(tiny_egobody.root), split="test", stage1_results=str(bad)))
    ds2 = EgoBodyDataset(
        EgoBodyDataOptions(root=str(tiny_egobody.root), split="test", stage=2, scene_dir=str(tmp_path))
    )
    with pytest.raises(FileNotFoundError, match="scene-s2"):
        ds2[0]
