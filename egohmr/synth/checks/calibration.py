"""Per-frame transforms of an annotation file: each frame's recording and timestamp must have transforms, and the
scene -> PV chain (`egohmr.data.egobody_format.scene2pv`) must be rigid."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from egohmr.data import egobody_format as fmt
from egohmr.synth.checks.report import Issue

RIGID_TOL = 1e-3


def frame_transforms(
    root: Path,
    name: str,
    imgnames: np.ndarray,
    transf: dict[str, fmt.RecordingTransforms],
    rec2scene: dict[str, str],
    issues: list[Issue],
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """-> (recordings (N,) str, scene2pv (N, 4, 4) scene -> PV OpenCV, valid (N,) bool where the chain is known and
    rigid); adds an issue per kind of gap."""
    n = len(imgnames)
    recordings = np.full(n, "", dtype=object)
    scene2pv = np.tile(np.eye(4), (n, 1, 1))
    valid = np.zeros(n, bool)
    missing_rec, missing_ts, not_rigid = set(), [], []
    kinect2scene: dict[str, np.ndarray | None] = {}
    for i, imgname in enumerate(imgnames):
        try:
            key = fmt.parse_imgname(str(imgname))
        except ValueError as err:
            issues.append(Issue(name, "imgname", str(err)))
            break
        recordings[i] = key.recording
        if key.recording not in transf:
            missing_rec.add(key.recording)
            continue
        tr = transf[key.recording]
        if key.timestamp not in tr.world2pv:
            missing_ts.append(str(imgname))
            continue
        if key.recording not in kinect2scene:
            path = fmt.kinect2scene_path(root, key.recording, rec2scene.get(key.recording, ""))
            ok = key.recording in rec2scene and path.is_file()
            kinect2scene[key.recording] = fmt.read_kinect2scene(path) if ok else None
        k2s = kinect2scene[key.recording]
        if k2s is None:
            continue
        M = fmt.scene2pv(k2s, tr.kinect2holo, tr.world2pv[key.timestamp])
        R = M[:3, :3]
        if np.allclose(R @ R.T, np.eye(3), atol=RIGID_TOL) and abs(np.linalg.det(R) - 1) < RIGID_TOL:
            scene2pv[i], valid[i] = M, True
        else:
            not_rigid.append(str(imgname))
    if missing_rec:
        issues.append(Issue(fmt.TRANSF_FILE, "", f"recordings missing: {sorted(missing_rec)[:5]}"))
    if missing_ts:
        what = f"{len(missing_ts)} timestamp(s) missing, e.g. for {missing_ts[0]}"
        issues.append(Issue(fmt.TRANSF_FILE, "trans_world2pv", what))
    if not_rigid:
        what = f"scene->PV chain not rigid for {len(not_rigid)} frame(s), e.g. {not_rigid[0]}"
        issues.append(Issue(fmt.TRANSF_FILE, "trans_world2pv", what))
    return recordings.astype(str), scene2pv, valid
