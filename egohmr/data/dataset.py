"""EgoBody datasets for stage 1 (ProHMR-scene) and stage 2 (EgoHMR diffusion), reading the official files.

One sample is a dict of tensors whose keys are listed, with shape, dtype, frame and units, in ``SAMPLE_FIELDS`` (the
single place where they are defined; ``docs/data.md`` shows the same table). All geometry of a sample refers to the
same (possibly augmented) view: the 3D quantities in the PV camera frame project with ``(fx, fy, cx, cy)`` onto
``kp2d_op25_full_px``, and ``img_crop`` is the ``crop_size_px`` crop of the box ``bbox_center_px``/``bbox_size_px``
of that view (``augment.py`` explains the model).

Workers: the constructor reads the small files (annotation npz, transforms, calibrations) into numpy arrays and keeps no
open file; images, stage-2 cubes and the stage-1 point dictionaries are read lazily in each worker. Augmentation draws
come from ``augment_rng(seed, epoch, index)``; call ``set_epoch`` before each epoch (DataLoader workers created later
see the new epoch). ``view_item(i, k)`` gives frame ``i`` under the fixed view ``k`` instead (0: un-augmented; k > 0:
augmented with the draw of ``view_rng(seed, k, index)``, the same in every epoch), for cached image features of
augmented crops (``egohmr.data.feature_cache``).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

import numpy as np
import torch
from torch.utils.data import Dataset

from egohmr.constants import CROP_SIZE_PX
from egohmr.data import egobody_format as ebf
from egohmr.data.augment import (
    AugmentConfig,
    AugmentParams,
    augment_rng,
    identity_params,
    make_view,
    sample_augment_params,
    view_rng,
)
from egohmr.data.crop import bbox_from_center_scale, normalize_crop, warp_image
from egohmr.data.images import read_rgb
from egohmr.data.scene_points import (
    SceneS1Store,
    kinect2pv_per_frame,
    load_s2_cube,
    s2_cube_path,
    scene2kinect_per_recording,
)
from egohmr.data.visibility import openpose_visibility_smpl24
from egohmr.geometry.frames import apply_transform
from egohmr.geometry.rotations import axis_angle_to_rotmat
from egohmr.safe_load import NUMPY_DATA, load_pickle

__all__ = ["SAMPLE_FIELDS", "EgoBodyDataOptions", "EgoBodyDataset", "load_stage1_translations"]

SAMPLE_FIELDS: dict[str, str] = {
    "index": "() int64. Row of the frame in the annotation npz.",
    "img_crop": "(3, S, S) float32. RGB crop, ImageNet-normalised in 0..255 units (only with load_images).",
    "img_size_px": "(2,) float32, px. Full image (W, H).",
    "kp2d_op25_full_px": "(25, 3) float32. OpenPose BODY_25 (x, y, conf), full-image px of the (augmented) view.",
    "kp2d_op25_crop_norm": "(25, 3) float32. Same keypoints in the crop, x, y / S - 0.5 in [-0.5, 0.5]; conf.",
    "joints3d_pv": "(24, 3) float32, metres, PV frame. GT SMPL joints (npz 3d_joints_pv[:, :24]).",
    "global_orient_rotmat_pv": "(3, 3) float32, PV frame. GT global orientation.",
    "body_pose_rotmat": "(23, 3, 3) float32. GT body pose (SMPL joints 1..23).",
    "betas": "(10,) float32. GT SMPL shape of the gendered body.",
    "transl_pv": "(3,) float32, metres, PV frame. GT SMPL translation.",
    "gender": "() int64. 0 male, 1 female (npz 'm'/'f').",
    "fx": "() float32, px. Focal length x.",
    "fy": "() float32, px. Focal length y.",
    "cx": "() float32, px. Principal point x of the (augmented) view.",
    "cy": "() float32, px. Principal point y.",
    "bbox_center_px": "(2,) float32, px. Crop box centre in the full image of the (augmented) view.",
    "bbox_size_px": "() float32, px. Crop box side (npz scale * 200 * bbox_enlarge * augmentation scale).",
    "vis_smpl24": "(24,) bool. OpenPose-based joint visibility for conditioning (MidHip forced visible).",
    "scene_points_pv": "(P, 3) float32, metres, PV frame. Stage 1: s1 frustum points; stage 2: s2 cube (if given).",
    "transl_stage1_pv": "(3,) float32, metres, PV frame. Stage-1 translation (stage 2 with stage1_results only).",
}

_GENDER_CODES = {"m": 0, "male": 0, "0": 0, "f": 1, "female": 1, "1": 1}


@dataclass(frozen=True)
class EgoBodyDataOptions:
    """Options of ``EgoBodyDataset``."""

    root: str
    """EgoBody root (official tree, see ``egobody_format``)."""
    split: Literal["train", "val", "test"] = "train"
    """Annotation split."""
    stage: Literal[1, 2] = 1
    """1: stage-1 scene points (s1 pickles); 2: stage-2 cubes (s2 npy files)."""
    scene_dir: str | None = None
    """Stage 1: folder with pcd_verts_dict_<split>.pkl / map_dict_<split>.pkl; stage 2: s2 save root. None: no
    scene points."""
    stage1_results: str | None = None
    """Stage-1 ``results.pkl`` (pred_cam_full_list, rows aligned with the npz); stage 2 testing only."""
    crop_size_px: int = CROP_SIZE_PX
    """Crop side S (official MODEL.IMAGE_SIZE)."""
    bbox_enlarge: float = 1.2
    """Box side factor on scale * 200 (official --add_bbox_scale)."""
    augment: bool = False
    """Training augmentation (train split only in the official code)."""
    augment_config: AugmentConfig = field(default_factory=AugmentConfig)
    """Augmentation magnitudes (per-epoch draws and the views of ``view_item``)."""
    seed: int = 0
    """Augmentation seed (draws depend on (seed, epoch, index), views on (seed, view, index) only)."""
    num_scene_points: int | None = 20000
    """Expected number of scene points per frame (None: any)."""
    pelvis_vis_loosen: bool = False
    """Use the loosened OpenPose -> SMPL visibility map (official test default True, train default False)."""
    load_images: bool = True
    """Read images and return img_crop; False skips image IO (geometry only)."""
    image_size_px: tuple[int, int] = (1920, 1080)
    """(W, H) used when images are not loaded (HoloLens2 PV)."""
    spacing: int = 1
    """Keep every spacing-th frame of the npz (official eval_spacing)."""


def _check_annotation(path: Path, data: dict[str, np.ndarray]) -> int:
    n = None
    for name, (shape, kind) in ebf.ANNOTATION_FIELDS.items():
        if name not in data:
            raise ValueError(f"{path}: field {name!r} missing (fields: {sorted(data)})")
        arr = data[name]
        if arr.ndim == 0:
            raise ValueError(f"{path}: field {name!r} must have one row per frame, got a scalar")
        if n is None:
            n = arr.shape[0]
        if arr.shape[0] != n:
            raise ValueError(f"{path}: field {name!r} has {arr.shape[0]} rows, expected {n} (as 'imgname')")
        want = tuple(arr.shape[1:]) if name == "3d_joints_pv" else shape
        if name == "3d_joints_pv" and (arr.ndim != 3 or arr.shape[2] != 3 or arr.shape[1] < ebf.MIN_3D_JOINTS):
            raise ValueError(f"{path}: field {name!r} must be (N, >={ebf.MIN_3D_JOINTS}, 3), got {arr.shape}")
        if tuple(arr.shape[1:]) != want:
            raise ValueError(f"{path}: field {name!r} must be (N, {', '.join(map(str, want))}), got {arr.shape}")
        if kind == "f" and arr.dtype.kind not in "fiu":
            raise ValueError(f"{path}: field {name!r} must be numeric, got dtype {arr.dtype}")
    return int(n or 0)


def load_stage1_translations(path: str | Path, num_frames: int) -> np.ndarray:
    """Read stage-1 ``results.pkl`` -> ``pred_cam_full_list`` (N, 3) float64, PV frame, metres.

    Raises:
        FileNotFoundError: missing file. ValueError: missing field or rows not matching the annotation npz.
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"missing stage-1 results {path} (written by stage-1 testing)")
    data = load_pickle(path, NUMPY_DATA, what="stage-1 results pickle")
    if not isinstance(data, dict) or "pred_cam_full_list" not in data:
        raise ValueError(f"{path}: field 'pred_cam_full_list' missing")
    arr = np.asarray(data["pred_cam_full_list"], dtype=np.float64)
    if arr.shape != (num_frames, 3):
        raise ValueError(f"{path}: field 'pred_cam_full_list' must be ({num_frames}, 3) like the npz, got {arr.shape}")
    return arr


class EgoBodyDataset(Dataset):
    """EgoBody frames of one split, for stage 1 or stage 2 (see the module docstring and ``SAMPLE_FIELDS``)."""

    def __init__(self, options: EgoBodyDataOptions) -> None:
        self.options = opt = options
        if opt.stage not in (1, 2):
            raise ValueError(f"stage must be 1 or 2, got {opt.stage!r}")
        if opt.spacing < 1:
            raise ValueError(f"spacing must be >= 1, got {opt.spacing}")
        root = Path(opt.root)
        npz_path = ebf.annotation_path(root, opt.split)
        data = ebf.read_annotation_npz(npz_path)
        n_all = _check_annotation(npz_path, data)
        rows = np.arange(0, n_all, opt.spacing)
        self.rows = rows
        self.imgnames = [str(v) for v in data["imgname"][rows]]
        f64 = {
            k: np.asarray(data[k][rows], dtype=np.float64)
            for k in ebf.ANNOTATION_FIELDS
            if k not in ("imgname", "gender")
        }
        self.center = f64["center"]
        self.scale = f64["scale"]
        self.pose_aa = f64["pose"]
        self.betas = f64["shape"]
        self.global_orient_aa_pv = f64["global_orient_pv"]
        self.transl_pv = f64["transl_pv"]
        self.intrinsics = np.stack([f64["fx"], f64["fy"], f64["cx"], f64["cy"]], axis=1)  # (N, 4)
        self.keypoints = f64["valid_keypoints"]
        self.joints3d = f64["3d_joints_pv"][:, : ebf.MIN_3D_JOINTS]
        self.gender = np.empty(len(rows), dtype=np.int64)
        for i, g in enumerate(data["gender"][rows]):
            code = _GENDER_CODES.get(str(g).strip().lower())
            if code is None:
                raise ValueError(f"{npz_path}: field 'gender' row {rows[i]} is {g!r}, expected 'm' or 'f'")
            self.gender[i] = code
        self.kinect2pv = kinect2pv_per_frame(root, self.imgnames)
        self.scene2pv: np.ndarray | None = None
        self.s1_store: SceneS1Store | None = None
        if opt.scene_dir is not None:
            if opt.stage == 1:
                self.s1_store = SceneS1Store(opt.scene_dir, opt.split, opt.num_scene_points)
            else:
                self.scene2pv = self._scene_transforms(root)
        self.transl_stage1: np.ndarray | None = None
        if opt.stage1_results is not None:
            self.transl_stage1 = load_stage1_translations(opt.stage1_results, n_all)[rows]
        self.epoch = 0

    # ------------------------------------------------------------------------------------------ constructor parts
    def _scene_transforms(self, root: Path) -> np.ndarray:
        """Per-frame scene mesh -> PV (OpenCV) transforms, (N, 4, 4) float64."""
        recs = [ebf.parse_imgname(name).recording for name in self.imgnames]
        _, scene2kinect = scene2kinect_per_recording(root, recs)
        return self.kinect2pv @ np.stack([scene2kinect[r] for r in recs])

    # --------------------------------------------------------------------------------------------------- API
    def __len__(self) -> int:
        return len(self.imgnames)

    def set_epoch(self, epoch: int) -> None:
        """Set the epoch that seeds the augmentation draws."""
        self.epoch = int(epoch)

    def image_path(self, i: int) -> Path:
        """Absolute path of frame ``i``'s image."""
        return Path(self.options.root) / self.imgnames[i]

    def _read_image(self, i: int) -> np.ndarray:
        return read_rgb(self.image_path(i), f"npz field 'imgname' row {self.rows[i]}")

    def scene_points_raw_pv(self, i: int) -> np.ndarray | None:
        """Un-augmented scene points of frame ``i`` in its PV frame, (P, 3) float64, or None without scene_dir."""
        opt = self.options
        if opt.scene_dir is None:
            return None
        if self.s1_store is not None:
            return apply_transform(self.kinect2pv[i], self.s1_store.points_kinect(self.imgnames[i]))
        if self.scene2pv is None:
            return None
        cube = load_s2_cube(s2_cube_path(opt.scene_dir, opt.split, self.imgnames[i]), opt.num_scene_points)
        return apply_transform(self.scene2pv[i], cube)

    def view_params(self, i: int, view: int) -> AugmentParams:
        """Augmentation of frame ``i`` under fixed view ``view``: identity for 0, else drawn from
        ``view_rng(seed, view, row)`` with ``augment_config`` (whatever ``augment`` says)."""
        if view < 0:
            raise ValueError(f"view must be >= 0, got {view}")
        if view == 0:
            return identity_params()
        return sample_augment_params(self.options.augment_config, view_rng(self.options.seed, view, int(self.rows[i])))

    def view_item(self, i: int, view: int) -> dict[str, torch.Tensor]:
        """Sample of frame ``i`` under fixed view ``view`` (see ``view_params``); the epoch plays no part."""
        return self._item(i, self.view_params(i, view))

    def __getitem__(self, i: int) -> dict[str, torch.Tensor]:
        """Sample of frame ``i``: augmented with the epoch's draw when ``augment``, else un-augmented."""
        if self.options.augment and 0 <= i < len(self):
            rng = augment_rng(self.options.seed, self.epoch, int(self.rows[i]))
            return self._item(i, sample_augment_params(self.options.augment_config, rng))
        return self._item(i, identity_params())

    def _item(self, i: int, params: AugmentParams) -> dict[str, torch.Tensor]:
        if not 0 <= i < len(self):
            raise IndexError(f"index {i} out of range for {len(self)} frames")
        opt = self.options
        fx, fy, cx, cy = (float(v) for v in self.intrinsics[i])
        image = self._read_image(i) if opt.load_images else None
        width, height = (image.shape[1], image.shape[0]) if image is not None else opt.image_size_px
        center, size = bbox_from_center_scale(self.center[i], self.scale[i], opt.bbox_enlarge)
        view = make_view(params, fx, fy, cx, cy, width, center, float(size), opt.crop_size_px)

        R = axis_angle_to_rotmat(
            torch.from_numpy(np.concatenate([self.global_orient_aa_pv[i][None], self.pose_aa[i].reshape(23, 3)]))
        )
        R = R.numpy()  # (24, 3, 3)
        joints = self.joints3d[i]
        kp_full = view.keypoints_op25(self.keypoints[i])
        kp_crop = view.crop_keypoints(kp_full)
        kp_crop[:, :2] = kp_crop[:, :2] / opt.crop_size_px - 0.5
        out: dict[str, torch.Tensor] = {
            "index": torch.tensor(int(self.rows[i]), dtype=torch.int64),
            "img_size_px": torch.tensor([width, height], dtype=torch.float32),
            "kp2d_op25_full_px": torch.from_numpy(kp_full.astype(np.float32)),
            "kp2d_op25_crop_norm": torch.from_numpy(kp_crop.astype(np.float32)),
            "joints3d_pv": torch.from_numpy(view.joints_smpl24(joints).astype(np.float32)),
            "global_orient_rotmat_pv": torch.from_numpy(view.global_orient(R[0]).astype(np.float32)),
            "body_pose_rotmat": torch.from_numpy(view.body_pose(R[1:]).astype(np.float32)),
            "betas": torch.from_numpy(self.betas[i].astype(np.float32)),
            "transl_pv": torch.from_numpy(view.transl(self.transl_pv[i], joints[0]).astype(np.float32)),
            "gender": torch.tensor(int(self.gender[i]), dtype=torch.int64),
            "fx": torch.tensor(view.fx, dtype=torch.float32),
            "fy": torch.tensor(view.fy, dtype=torch.float32),
            "cx": torch.tensor(view.cx, dtype=torch.float32),
            "cy": torch.tensor(view.cy, dtype=torch.float32),
            "bbox_center_px": torch.from_numpy(view.bbox_center_px.astype(np.float32)),
            "bbox_size_px": torch.tensor(view.bbox_size_px, dtype=torch.float32),
        }
        out["vis_smpl24"] = openpose_visibility_smpl24(out["kp2d_op25_full_px"], loosen=opt.pelvis_vis_loosen)
        if image is not None:
            crop = warp_image(image, view.crop_to_src, opt.crop_size_px)
            out["img_crop"] = torch.from_numpy(normalize_crop(crop, params.color_scale))
        scene = self.scene_points_raw_pv(i)
        if scene is not None:
            out["scene_points_pv"] = torch.from_numpy(view.points(scene).astype(np.float32))
        if self.transl_stage1 is not None:
            t1 = view.points(self.transl_stage1[i][None])[0]
            out["transl_stage1_pv"] = torch.from_numpy(t1.astype(np.float32))
        return out
