"""`check_dataset`: validate a dataset folder (real EgoBody or synthetic) against the official layout and against
itself. Quick mode: files, fields and dtypes. Full mode (default): also every image, the keypoints and box against
the projected joints, the SMPL parameters against the joints, the camera and bodies against the scene."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from egohmr.data import egobody_format as fmt
from egohmr.synth.checks import body, calibration, fields, files, geometry
from egohmr.synth.checks.report import CheckReport, Issue, relative

AUTO_BODY = "auto"
SMPL_DIR = "data/smpl"


def resolve_body_check(source: str | None) -> tuple[str, body.BodyTolerance] | None:
    """``"auto"``: SMPL from ``data/smpl`` when its male and female files are there (exact tolerances), else the
    packaged open body with the stand-in tolerances. Any other source: exact tolerances. None: no body check."""
    if source is None:
        return None
    if source != AUTO_BODY:
        return source, body.EXACT
    from egohmr.body import resolve_body_path

    try:
        for gender in ("male", "female"):
            resolve_body_path(SMPL_DIR, gender)
    except (FileNotFoundError, ValueError):
        return "open", body.OPEN_STAND_IN
    return SMPL_DIR, body.EXACT


class _Run:
    """State of one check: the root, the issues so far and how many files were opened."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.issues: list[Issue] = []
        self.files = 0

    def read(self, path: Path, reader):
        """``reader(path)``, or None after recording the error as an issue of that file."""
        self.files += 1
        try:
            return reader(path)
        except (FileNotFoundError, ValueError, OSError, KeyError, TypeError) as err:
            self.issues.append(Issue(relative(self.root, path), "", str(err)))
            return None


def _side_files(run: _Run, quick: bool) -> tuple[dict[str, str], dict, dict[str, np.ndarray | None]]:
    root = run.root
    info = run.read(fmt.data_info_path(root), fmt.read_data_info)
    rec2scene = {r["recording_name"]: r["scene_name"] for r in info} if info else {}
    transf = run.read(fmt.transf_matrices_path(root), fmt.read_transf_matrices) or {}
    if transf:
        run.issues += files.check_transf_key_types(fmt.transf_matrices_path(root))
    run.read(fmt.kinect_color_params_path(root), fmt.read_kinect_color_params)
    scenes: dict[str, np.ndarray | None] = {}
    for rec, scene in sorted(rec2scene.items()):
        if scene not in scenes:
            run.files += 1
            mesh = fmt.scene_mesh_path(root, scene)
            if quick:
                scenes[scene] = None
                if not mesh.is_file() or mesh.stat().st_size == 0:
                    state = "missing" if not mesh.is_file() else "empty (0 bytes)"
                    run.issues.append(Issue(relative(root, mesh), "", f"scene mesh of recording {rec} {state}"))
            else:
                scenes[scene] = files.read_scene_vertices(root, scene, run.issues)
        if rec in transf or not transf:
            run.read(fmt.kinect2scene_path(root, rec, scene), fmt.read_kinect2scene)
    return rec2scene, transf, scenes


def _check_split(run, split, data, name, rec2scene, transf, scenes, quick, image_size, body_check) -> None:
    run.issues += fields.check_values(name, data)
    if not quick:
        image_issues, first_size = files.check_images(run.root, name, data)
        run.issues += image_issues
        run.issues += geometry.check_keypoints(name, data, image_size or first_size)
        if body_check is not None:
            run.issues += body.check_body(name, data, *body_check)
    recordings, scene2pv, valid = calibration.frame_transforms(
        run.root, name, data["imgname"], transf, rec2scene, run.issues
    )
    if not quick:
        run.issues += geometry.check_scene_geometry(name, data, recordings, scene2pv, valid, scenes, rec2scene)
    unknown = sorted(r for r in set(recordings.tolist()) if rec2scene and r and r not in rec2scene)
    if unknown:
        run.issues.append(
            Issue(fmt.DATA_INFO_FILE, "recording_name", f"recordings of {split} not listed: {unknown[:5]}")
        )


def check_dataset(
    root: str | Path,
    quick: bool = False,
    image_size: tuple[int, int] | None = None,
    body_source: str | None = AUTO_BODY,
) -> CheckReport:
    """Validate a dataset folder.

    Args:
        root: dataset root.
        quick: only files, fields, dtypes and transforms (no image, keypoint, body or scene geometry pass).
        image_size: (W, H) px to check keypoint bounds against (None: each file's first image).
        body_source: body model for the SMPL parameters -> joints check (`resolve_body_check`; None: skip).

    Returns:
        CheckReport (``ok`` is True when no issue was found).
    """
    root = Path(root)
    if not root.is_dir():
        return CheckReport([Issue(str(root), "", "dataset folder does not exist")], 0, 0)
    run = _Run(root)
    rec2scene, transf, scenes = _side_files(run, quick)
    body_check = None if quick else resolve_body_check(body_source)
    frames: dict[str, int] = {}
    split_recordings: dict[str, set[str]] = {}
    for split in fmt.SPLITS:
        path = fmt.annotation_path(root, split)
        name = relative(root, path)
        data = run.read(path, fmt.read_annotation_npz)
        if data is None:
            continue
        field_issues, n = fields.check_fields(name, data)
        run.issues += field_issues
        if n is None or field_issues:
            continue
        frames[split] = n
        if n == 0:
            continue
        _check_split(run, split, data, name, rec2scene, transf, scenes, quick, image_size, body_check)
        recs = {fmt.parse_imgname(str(x)).recording for x in data["imgname"]}
        for other, other_recs in split_recordings.items():
            shared = sorted(recs & other_recs)
            if shared:
                run.issues.append(Issue(name, "imgname", f"recordings also in split {other}: {shared[:5]}"))
        split_recordings[split] = recs
    if frames.get("train") == 0:
        run.issues.append(Issue(relative(root, fmt.annotation_path(root, "train")), "imgname", "split train is empty"))
    if frames and not any(frames.values()):
        run.issues.append(Issue(relative(root, root), "", "every split is empty"))
    return CheckReport(issues=run.issues, frames=sum(frames.values()), files_checked=run.files)
