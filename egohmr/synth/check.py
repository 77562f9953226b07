"""Validation of a dataset folder (real EgoBody or synthetic) against the official layout and fields.

Checks: the side files (data_info csv, transform pickle, Kinect parameters, calibrations, scene meshes), every
annotation npz (fields present, per-frame shapes and dtypes, NaN/inf, value ranges, gender codes), every frame's
image, recording and timestamp, the rigidity of the scene -> PV chain, and that the OpenPose keypoints agree with
the projected 3D joints (``3d_joints_pv``) for the keypoints that map to SMPL joints. Optionally (``body_source``)
that the SMPL parameters reproduce ``3d_joints_pv``.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from egohmr.constants import BBOX_SCALE_UNIT_PX, MM_PER_M, SMPL_TO_OPENPOSE
from egohmr.data import egobody_format as fmt
from egohmr.geometry.cameras import perspective_project


@dataclass(frozen=True)
class Issue:
    """One problem: the file, the field (or "" for the whole file) and a message."""

    file: str
    field: str
    message: str

    def __str__(self) -> str:
        where = f"{self.file}" + (f" [{self.field}]" if self.field else "")
        return f"{where}: {self.message}"


@dataclass
class CheckReport:
    """Issues found and counts of what was checked."""

    issues: list[Issue]
    frames: int
    files_checked: int

    @property
    def ok(self) -> bool:
        return not self.issues


def _rel(root: Path, path: Path) -> str:
    try:
        return str(path.relative_to(root))
    except ValueError:
        return str(path)


def _check_fields(root: Path, path: Path, data: dict[str, np.ndarray], issues: list[Issue]) -> int | None:
    name = _rel(root, path)
    n = None
    for key, (shape, kind) in fmt.ANNOTATION_FIELDS.items():
        if key not in data:
            issues.append(Issue(name, key, "field missing"))
            continue
        arr = data[key]
        if arr.ndim == 0:
            issues.append(Issue(name, key, f"expected one entry per frame, got a scalar of dtype {arr.dtype}"))
            continue
        if n is None:
            n = arr.shape[0]
        elif arr.shape[0] != n:
            issues.append(Issue(name, key, f"has {arr.shape[0]} frames, other fields have {n}"))
            continue
        per_frame = arr.shape[1:]
        if key == "3d_joints_pv":
            if len(per_frame) != 2 or per_frame[1] != 3 or per_frame[0] < fmt.MIN_3D_JOINTS:
                issues.append(Issue(name, key, f"per-frame shape must be (>={fmt.MIN_3D_JOINTS}, 3), got {per_frame}"))
                continue
        elif key in ("scale", "fx", "fy", "cx", "cy") and per_frame in ((1,),):
            pass  # (N, 1) columns are accepted
        elif per_frame != shape:
            issues.append(Issue(name, key, f"per-frame shape must be {shape}, got {per_frame}"))
            continue
        if kind == "f":
            if arr.dtype.kind not in "fiu":
                issues.append(Issue(name, key, f"must be numeric, got dtype {arr.dtype}"))
                continue
            bad = ~np.isfinite(arr.astype(np.float64))
            if bad.any():
                frames = np.nonzero(bad.reshape(len(arr), -1).any(axis=1))[0]
                issues.append(Issue(name, key, f"NaN/inf in {len(frames)} frame(s), first at index {frames[0]}"))
        elif arr.dtype.kind not in "US":
            issues.append(Issue(name, key, f"must be strings, got dtype {arr.dtype}"))
    return n


def _check_values(root: Path, path: Path, data, issues: list[Issue], image_size, kp_tol_frac, max_bad_fraction):
    name = _rel(root, path)
    n = len(data["imgname"])
    if n == 0:
        return
    genders = set(np.unique(data["gender"]).tolist())
    if not genders <= {"m", "f"}:
        issues.append(Issue(name, "gender", f"values must be 'm' or 'f', got {sorted(genders)}"))
    for key in ("fx", "fy", "scale"):
        vals = np.asarray(data[key], np.float64).reshape(n)
        if np.any(vals <= 0):
            issues.append(Issue(name, key, f"must be > 0 (min {vals.min():.4g})"))
    conf = data["valid_keypoints"][..., 2]
    if np.any((conf < 0) | (conf > 1.0 + 1e-6)):
        issues.append(Issue(name, "valid_keypoints", "confidence (3rd column) must be in [0, 1]"))
    # Keypoints vs projected joints, for the OpenPose keypoints that are SMPL joints or landmarks present.
    joints = np.asarray(data["3d_joints_pv"], np.float64)
    src = np.asarray(SMPL_TO_OPENPOSE)
    usable = src < joints.shape[1]
    P = joints[:, src[usable]]  # (N, K', 3)
    fx, fy, cx, cy = (np.asarray(data[k], np.float64).reshape(n) for k in ("fx", "fy", "cx", "cy"))
    uv = perspective_project(P, fx, fy, cx, cy)  # (N, K', 2)
    kp = np.asarray(data["valid_keypoints"], np.float64)[:, usable]
    vis = (kp[..., 2] > 0) & (P[..., 2] > 0)
    err = np.linalg.norm(kp[..., :2] - uv, axis=-1)
    side = np.asarray(data["scale"], np.float64).reshape(n) * BBOX_SCALE_UNIT_PX
    tol = kp_tol_frac * np.maximum(side, 50.0) + 3.0
    med = np.array([np.median(e[m]) if m.any() else 0.0 for e, m in zip(err, vis, strict=True)])
    bad = med > tol
    if bad.mean() > max_bad_fraction:
        first = int(np.nonzero(bad)[0][0])
        issues.append(
            Issue(
                name,
                "valid_keypoints",
                f"{int(bad.sum())}/{n} frames disagree with the projected 3d_joints_pv (median error > "
                f"{kp_tol_frac:.2f} x bbox side); first: index {first} ({data['imgname'][first]}), "
                f"median error {med[first]:.1f} px",
            )
        )
    if image_size is not None:
        W, H = image_size
        outside = vis & ((kp[..., 0] < -1) | (kp[..., 0] > W + 1) | (kp[..., 1] < -1) | (kp[..., 1] > H + 1))
        if outside.any():
            issues.append(
                Issue(
                    name,
                    "valid_keypoints",
                    f"{int(outside.any(axis=1).sum())} frame(s) have confident keypoints outside the {W}x{H} image",
                )
            )
    centre = np.asarray(data["center"], np.float64)
    if image_size is not None and np.any((centre < -image_size[0]) | (centre > 2 * max(image_size))):
        issues.append(Issue(name, "center", "bbox centres far outside the image"))


def _check_body(root, path, data, issues, body_source: str, tol_m: float = 0.01):
    import torch

    from egohmr.body import load_body_model
    from egohmr.geometry.rotations import axis_angle_to_rotmat

    name = _rel(root, path)
    n = len(data["imgname"])
    if n == 0:
        return
    worst = 0.0
    worst_idx = -1
    for g, gender in (("m", "male"), ("f", "female")):
        idx = np.nonzero(np.asarray(data["gender"]) == g)[0]
        if len(idx) == 0:
            continue
        model = load_body_model(body_source, gender=gender).to(torch.float64)
        for start in range(0, len(idx), 256):
            sel = idx[start : start + 256]
            with torch.no_grad():
                out = model(
                    torch.as_tensor(np.asarray(data["shape"][sel], np.float64)),
                    axis_angle_to_rotmat(torch.as_tensor(np.asarray(data["global_orient_pv"][sel], np.float64))),
                    axis_angle_to_rotmat(torch.as_tensor(np.asarray(data["pose"][sel], np.float64).reshape(-1, 23, 3))),
                    torch.as_tensor(np.asarray(data["transl_pv"][sel], np.float64)),
                )
            d = np.linalg.norm(
                out.joints.numpy() - np.asarray(data["3d_joints_pv"][sel, :24], np.float64), axis=-1
            ).max(axis=1)
            if d.max() > worst:
                worst, worst_idx = float(d.max()), int(sel[int(d.argmax())])
    if worst > tol_m:
        issues.append(
            Issue(
                name,
                "3d_joints_pv",
                f"SMPL parameters with body '{body_source}' miss the stored joints by {worst * MM_PER_M:.1f} mm "
                f"(index {worst_idx})",
            )
        )


def _check_frame_calibrations(
    root: Path,
    path: Path,
    imgnames: np.ndarray,
    transf: dict[str, fmt.RecordingTransforms],
    rec2scene: dict[str, str],
    check_images: bool,
    issues: list[Issue],
) -> None:
    """Per frame of one annotation file: the image exists, its recording and timestamp have transforms, and the
    scene -> PV chain is rigid."""
    missing_img, missing_rec, missing_ts, not_rigid = [], set(), [], []
    calib: dict[str, np.ndarray] = {}
    for name in imgnames:
        name = str(name)
        if check_images and not (root / name).is_file():
            missing_img.append(name)
        try:
            key = fmt.parse_imgname(name)
        except ValueError as err:
            issues.append(Issue(_rel(root, path), "imgname", str(err)))
            break
        if key.recording not in transf:
            missing_rec.add(key.recording)
            continue
        tr = transf[key.recording]
        if key.timestamp not in tr.world2pv:
            missing_ts.append(name)
            continue
        if key.recording not in calib and key.recording in rec2scene:
            p = fmt.kinect2scene_path(root, key.recording, rec2scene[key.recording])
            calib[key.recording] = fmt.read_kinect2scene(p) if p.is_file() else None
        k2s = calib.get(key.recording)
        if k2s is not None:
            M = fmt.scene2pv(k2s, tr.kinect2holo, tr.world2pv[key.timestamp])
            R = M[:3, :3]
            if not (np.allclose(R @ R.T, np.eye(3), atol=1e-3) and abs(np.linalg.det(R) - 1) < 1e-3):
                not_rigid.append(name)
    if missing_img:
        issues.append(Issue(_rel(root, path), "imgname", f"{len(missing_img)} image(s) missing, e.g. {missing_img[0]}"))
    if missing_rec:
        issues.append(Issue(fmt.TRANSF_FILE, "", f"recordings missing: {sorted(missing_rec)[:5]}"))
    if missing_ts:
        issues.append(
            Issue(
                fmt.TRANSF_FILE,
                "trans_world2pv",
                f"{len(missing_ts)} timestamp(s) missing, e.g. for {missing_ts[0]}",
            )
        )
    if not_rigid:
        issues.append(
            Issue(
                fmt.TRANSF_FILE,
                "trans_world2pv",
                f"scene->PV chain not rigid for {len(not_rigid)} frame(s), e.g. {not_rigid[0]}",
            )
        )


def check_dataset(
    root: str | Path,
    image_size: tuple[int, int] | None = None,
    check_images: bool = True,
    kp_tol_frac: float = 0.25,
    max_bad_fraction: float = 0.01,
    body_source: str | None = None,
) -> CheckReport:
    """Validate a dataset folder.

    Args:
        root: dataset root. image_size: (W, H) px to check keypoint bounds against (None: read the first image).
        check_images: check that every ``imgname`` exists. kp_tol_frac: keypoints may differ from the projected
            joints by this fraction of the bbox side (median per frame). max_bad_fraction: tolerated fraction of
            disagreeing frames. body_source: if set, also check SMPL params -> joints with this body model.

    Returns:
        CheckReport (``ok`` is True when no issue was found).
    """
    root = Path(root)
    issues: list[Issue] = []
    files = 0
    if not root.is_dir():
        return CheckReport([Issue(str(root), "", "dataset folder does not exist")], 0, 0)

    def guard(path: Path, fn):
        nonlocal files
        files += 1
        try:
            return fn(path)
        except (FileNotFoundError, ValueError, OSError, KeyError, TypeError) as err:
            issues.append(Issue(_rel(root, path), "", str(err)))
            return None

    info = guard(fmt.data_info_path(root), fmt.read_data_info)
    rec2scene = {r["recording_name"]: r["scene_name"] for r in info} if info else {}
    transf = guard(fmt.transf_matrices_path(root), fmt.read_transf_matrices) or {}
    guard(fmt.kinect_color_params_path(root), fmt.read_kinect_color_params)
    for rec, scene in sorted(rec2scene.items()):
        mesh = fmt.scene_mesh_path(root, scene)
        files += 1
        if not mesh.is_file():
            issues.append(Issue(_rel(root, mesh), "", f"scene mesh of recording {rec} missing"))
        if rec in transf or not transf:
            guard(fmt.kinect2scene_path(root, rec, scene), fmt.read_kinect2scene)

    frames = 0
    split_recordings: dict[str, set[str]] = {}
    for split in fmt.SPLITS:
        path = fmt.annotation_path(root, split)
        data = guard(path, fmt.read_annotation_npz)
        if data is None:
            continue
        n = _check_fields(root, path, data, issues)
        if n is None or any(i.file == _rel(root, path) for i in issues):
            continue
        frames += n
        if n and image_size is None and check_images:
            first = root / str(data["imgname"][0])
            if first.is_file():
                from PIL import Image

                with Image.open(first) as im:
                    image_size = im.size
        _check_values(root, path, data, issues, image_size, kp_tol_frac, max_bad_fraction)
        if body_source is not None:
            _check_body(root, path, data, issues, body_source)
        _check_frame_calibrations(root, path, data["imgname"], transf, rec2scene, check_images, issues)
        recs = {fmt.parse_imgname(str(x)).recording for x in data["imgname"]}
        for other, other_recs in split_recordings.items():
            shared = sorted(recs & other_recs)
            if shared:
                issues.append(Issue(_rel(root, path), "imgname", f"recordings also in split {other}: {shared[:5]}"))
        split_recordings[split] = recs
        unknown = sorted(r for r in recs if rec2scene and r not in rec2scene)
        if unknown:
            issues.append(
                Issue(fmt.DATA_INFO_FILE, "recording_name", f"recordings of {split} not listed: {unknown[:5]}")
            )
    return CheckReport(issues=issues, frames=frames, files_checked=files)
