"""Results files: our npz format and the official EgoHMR pickles (reference-egohmr.md section 5, "Results files").

- Ours (`.npz`): `pred_betas` (N, S, 10), `pred_global_orient_rotmat` (N, S, 3, 3), `pred_body_pose_rotmat`
  (N, S, 23, 3, 3), `pred_transl_pv` (N, 3) metres PV frame, `imgname` (N,) str, `num_samples` (), `metadata_json` ()
  str. Rows follow the annotation npz of the split.
- Official stage 2 (`output_egohmr_<id>/results_seed_<seed>.pkl`, pickle protocol 2): `pred_betas_list` (N, S, 10),
  `pred_global_orient_list` (N, S, 1, 3, 3), `pred_body_pose_list` (N, S, 23, 3, 3), `collision_ratio_list` (N, S),
  `contact_ratio_list` (N, S), `pred_cam_full_list` (N, 3; absent if run without stage 1), `gt_cam_full_list` (N, 3).
- Official stage 1 (`output_prohmr_scene_<id>/results.pkl`): `{'pred_cam_full_list': float32 (N, 3)}`.

Writes are atomic (temporary file in the same folder, then `os.replace`). Pickles are read with the allow-list unpickler
of `egohmr.safe_load` (numpy arrays and plain containers only).
"""

from __future__ import annotations

import json
import pickle
import zipfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from egohmr.constants import NUM_BETAS, NUM_BODY_JOINTS
from egohmr.files import atomic_open
from egohmr.safe_load import NUMPY_DATA, load_pickle

OURS_KEYS: tuple[str, ...] = (
    "pred_betas",
    "pred_global_orient_rotmat",
    "pred_body_pose_rotmat",
    "pred_transl_pv",
    "imgname",
    "num_samples",
    "metadata_json",
)
OFFICIAL_STAGE2_REQUIRED: tuple[str, ...] = ("pred_betas_list", "pred_global_orient_list", "pred_body_pose_list")
OFFICIAL_STAGE1_KEY = "pred_cam_full_list"
OFFICIAL_PICKLE_PROTOCOL = 2
ROTATION_TOL = 1e-3  # float32 rotation matrices written by egohmr and the official code are orthonormal to ~1e-6


@dataclass
class PredictionResults:
    """Predictions for N frames with S samples each, in memory.

    Attributes:
        pred_betas: (N, S, 10) float32. Neutral-body shape coefficients.
        pred_global_orient_rotmat: (N, S, 3, 3) float32. Root rotation, SMPL local -> PV camera frame.
        pred_body_pose_rotmat: (N, S, 23, 3, 3) float32. Joint rotations relative to the parent.
        pred_transl_pv: (N, 3) float32, metres, PV frame. Body translation (stage-1 output in EgoHMR).
        imgname: (N,) str or None (official pickles store no names; rows then follow the annotation order).
        metadata: JSON-serialisable settings of the run that produced the predictions. Its ``body_model`` entry
            (`egohmr.body.identity.body_model_id`: ``{"name", "sha256"}``) names the body model the betas belong to;
            `egohmr.evaluate.pipeline.check_body_model` compares it with the evaluation's body model.
        stored_collision_ratio: (N, S) float64 or None. Values stored by the official test script.
        stored_contact_ratio: (N, S) float64 or None. Values stored by the official test script.
        gt_transl_pv: (N, 3) float32 or None. GT translation stored by the official test script (row-order check).
        source_format: "ours" or "official_stage2".
    """

    pred_betas: np.ndarray
    pred_global_orient_rotmat: np.ndarray
    pred_body_pose_rotmat: np.ndarray
    pred_transl_pv: np.ndarray
    imgname: np.ndarray | None = None
    metadata: dict[str, Any] = field(default_factory=dict)
    stored_collision_ratio: np.ndarray | None = None
    stored_contact_ratio: np.ndarray | None = None
    gt_transl_pv: np.ndarray | None = None
    source_format: str = "ours"

    @property
    def num_frames(self) -> int:
        return int(self.pred_betas.shape[0])

    @property
    def num_samples(self) -> int:
        return int(self.pred_betas.shape[1])

    def validate(self, where: str = "results") -> None:
        """Check shapes; raise ValueError naming `where` and the field."""
        n, s = self.pred_betas.shape[:2] if self.pred_betas.ndim == 3 else (-1, -1)
        _expect(self.pred_betas, (n, s, NUM_BETAS), where, "pred_betas")
        if n < 1 or s < 1:
            raise ValueError(
                f"{where}: pred_betas must hold at least one frame and one sample, got {self.pred_betas.shape}"
            )
        _expect(self.pred_global_orient_rotmat, (n, s, 3, 3), where, "pred_global_orient_rotmat")
        _expect(self.pred_body_pose_rotmat, (n, s, NUM_BODY_JOINTS, 3, 3), where, "pred_body_pose_rotmat")
        _expect(self.pred_transl_pv, (n, 3), where, "pred_transl_pv")
        if self.imgname is not None:
            _expect(self.imgname, (n,), where, "imgname")
        for name in ("stored_collision_ratio", "stored_contact_ratio"):
            value = getattr(self, name)
            if value is not None:
                _expect(value, (n, s), where, name)
        if self.gt_transl_pv is not None:
            _expect(self.gt_transl_pv, (n, 3), where, "gt_transl_pv")


def _expect(array: np.ndarray, shape: tuple[int, ...], where: str, key: str) -> None:
    if array.ndim != len(shape) or any(e >= 0 and a != e for a, e in zip(array.shape, shape, strict=True)):
        readable = tuple("?" if e < 0 else e for e in shape)
        raise ValueError(f"{where}: key {key!r} has shape {tuple(array.shape)}, expected {readable}")


def _frame(results: PredictionResults, row: int) -> str:
    name = f" ({results.imgname[row]})" if results.imgname is not None else ""
    return f"frame row {row}{name}"


def check_values(results: PredictionResults, where: str) -> None:
    """Read predictions must be finite and their rotation matrices rotations (R^T R = I within ROTATION_TOL,
    det > 0); raise ValueError naming `where`, the field and the first bad frame row (and its imgname)."""
    for key in ("pred_betas", "pred_global_orient_rotmat", "pred_body_pose_rotmat", "pred_transl_pv"):
        value = getattr(results, key)
        bad = ~np.isfinite(value.reshape(len(value), -1)).all(axis=1)
        if bad.any():
            row = int(np.argmax(bad))
            raise ValueError(
                f"{where}: key {key!r} has NaN/inf in {int(bad.sum())} frame(s), first {_frame(results, row)}"
            )
    for key in ("pred_global_orient_rotmat", "pred_body_pose_rotmat"):
        R = np.asarray(getattr(results, key), np.float64)
        error = np.abs(np.swapaxes(R, -1, -2) @ R - np.eye(3)).max(axis=(-2, -1))
        bad = (error > ROTATION_TOL) | (np.linalg.det(R) <= 0)
        bad = bad.reshape(len(R), -1).any(axis=1)
        if bad.any():
            row = int(np.argmax(bad))
            raise ValueError(
                f"{where}: key {key!r} holds matrices that are not rotations (R^T R != I within {ROTATION_TOL} or "
                f"det <= 0) in {int(bad.sum())} frame(s), first {_frame(results, row)}"
            )


# ---------------------------------------------------------------------------------------------- atomic write
# ------------------------------------------------------------------------------------------------------ ours
def write_results(path: str | Path, results: PredictionResults) -> None:
    """Write `results` in our npz format (atomic). Keys: see the module docstring.

    Raises:
        ValueError: a field has the wrong shape.
    """
    results.validate(str(path))
    n = results.num_frames
    imgname = results.imgname if results.imgname is not None else np.array([""] * n)
    arrays = {
        "pred_betas": np.asarray(results.pred_betas, dtype=np.float32),
        "pred_global_orient_rotmat": np.asarray(results.pred_global_orient_rotmat, dtype=np.float32),
        "pred_body_pose_rotmat": np.asarray(results.pred_body_pose_rotmat, dtype=np.float32),
        "pred_transl_pv": np.asarray(results.pred_transl_pv, dtype=np.float32),
        "imgname": np.asarray(imgname, dtype=str),
        "num_samples": np.asarray(results.num_samples, dtype=np.int64),
        "metadata_json": np.asarray(json.dumps(results.metadata, sort_keys=True)),
    }
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    with atomic_open(path, "wb") as fh:
        np.savez(fh, **arrays)


def read_results(path: str | Path) -> PredictionResults:
    """Read our npz results format.

    Raises:
        FileNotFoundError: no such file. ValueError: a key is missing or has the wrong shape (message names both).
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"results file not found: {path}")
    try:
        data = np.load(path, allow_pickle=False)
    except (ValueError, OSError, zipfile.BadZipFile) as err:
        raise ValueError(f"{path}: not a readable npz results file ({type(err).__name__}: {err})") from err
    with data:
        missing = [k for k in OURS_KEYS if k not in data.files]
        if missing:
            raise ValueError(f"{path}: missing key(s) {missing}; an egohmr results npz holds {list(OURS_KEYS)}")
        try:
            metadata = json.loads(str(data["metadata_json"]))
        except json.JSONDecodeError as err:
            raise ValueError(f"{path}: key 'metadata_json' is not valid JSON ({err})") from err
        names = data["imgname"].astype(str)
        results = PredictionResults(
            pred_betas=data["pred_betas"].astype(np.float32),
            pred_global_orient_rotmat=data["pred_global_orient_rotmat"].astype(np.float32),
            pred_body_pose_rotmat=data["pred_body_pose_rotmat"].astype(np.float32),
            pred_transl_pv=data["pred_transl_pv"].astype(np.float32),
            imgname=None if np.all(names == "") else names,
            metadata=metadata,
            source_format="ours",
        )
        num_samples = int(data["num_samples"])
    results.validate(str(path))
    check_values(results, str(path))
    if num_samples != results.num_samples:
        raise ValueError(
            f"{path}: key 'num_samples' = {num_samples} but 'pred_betas' holds {results.num_samples} samples per frame"
        )
    return results


# -------------------------------------------------------------------------------------------------- pickles
def _load_pickle(path: Path) -> dict[str, Any]:
    if not path.is_file():
        raise FileNotFoundError(f"results file not found: {path}")
    data = load_pickle(path, NUMPY_DATA, what="results pickle")
    if not isinstance(data, dict):
        raise ValueError(f"{path}: expected a dict of arrays, got {type(data).__name__}")
    return data


def read_official_stage2(path: str | Path) -> PredictionResults:
    """Read an official stage-2 `results_seed_<seed>.pkl`.

    The translation is `pred_cam_full_list` (stage-1 output); if the file has none (official run with
    `--two_stage False`), the GT translation `gt_cam_full_list` is used, as the official test did, and
    `metadata["translation_source"]` says "gt".

    Raises:
        FileNotFoundError: no such file. ValueError: a key is missing or has the wrong shape (naming file and key).
    """
    path = Path(path)
    data = _load_pickle(path)
    missing = [k for k in OFFICIAL_STAGE2_REQUIRED if k not in data]
    if missing:
        hint = " (this looks like a stage-1 results.pkl, which holds no poses)" if OFFICIAL_STAGE1_KEY in data else ""
        raise ValueError(f"{path}: missing key(s) {missing}{hint}; found {sorted(data)}")
    betas = np.asarray(data["pred_betas_list"], dtype=np.float32)
    orient = np.asarray(data["pred_global_orient_list"], dtype=np.float32)
    if orient.ndim == 5:
        _expect(orient, (-1, -1, 1, 3, 3), str(path), "pred_global_orient_list")
        orient = orient[:, :, 0]
    if OFFICIAL_STAGE1_KEY in data:
        transl, source = np.asarray(data[OFFICIAL_STAGE1_KEY], dtype=np.float32), "stage1"
    elif "gt_cam_full_list" in data:
        transl, source = np.asarray(data["gt_cam_full_list"], dtype=np.float32), "gt"
    else:
        raise ValueError(f"{path}: neither 'pred_cam_full_list' nor 'gt_cam_full_list' present; found {sorted(data)}")

    def optional(key: str, dtype: type) -> np.ndarray | None:
        return np.asarray(data[key], dtype=dtype) if key in data else None

    results = PredictionResults(
        pred_betas=betas,
        pred_global_orient_rotmat=orient,
        pred_body_pose_rotmat=np.asarray(data["pred_body_pose_list"], dtype=np.float32),
        pred_transl_pv=transl,
        imgname=None,
        metadata={"translation_source": source, "official_file": path.name},
        stored_collision_ratio=optional("collision_ratio_list", np.float64),
        stored_contact_ratio=optional("contact_ratio_list", np.float64),
        gt_transl_pv=optional("gt_cam_full_list", np.float32),
        source_format="official_stage2",
    )
    results.validate(str(path))
    check_values(results, str(path))
    return results


def write_official_stage2(path: str | Path, results: PredictionResults) -> None:
    """Write `results` as an official stage-2 pickle (protocol 2, float32 arrays, atomic).

    Collision/contact lists are the stored ones, or zeros (what the official script saves when not evaluated).
    """
    results.validate(str(path))
    n, s = results.num_frames, results.num_samples
    out = {
        "pred_betas_list": np.asarray(results.pred_betas, dtype=np.float32),
        "pred_global_orient_list": np.asarray(results.pred_global_orient_rotmat, dtype=np.float32)[:, :, None],
        "pred_body_pose_list": np.asarray(results.pred_body_pose_rotmat, dtype=np.float32),
        "collision_ratio_list": (
            np.zeros((n, s)) if results.stored_collision_ratio is None else np.asarray(results.stored_collision_ratio)
        ),
        "contact_ratio_list": (
            np.zeros((n, s)) if results.stored_contact_ratio is None else np.asarray(results.stored_contact_ratio)
        ),
        "pred_cam_full_list": np.asarray(results.pred_transl_pv, dtype=np.float32),
        "gt_cam_full_list": (
            np.zeros((n, 3), dtype=np.float32)
            if results.gt_transl_pv is None
            else np.asarray(results.gt_transl_pv, dtype=np.float32)
        ),
    }
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    with atomic_open(path, "wb") as fh:
        pickle.dump(out, fh, protocol=OFFICIAL_PICKLE_PROTOCOL)


def read_official_stage1(path: str | Path) -> np.ndarray:
    """Read an official stage-1 `results.pkl` -> (N, 3) float32, metres, PV frame (mode-sample translation).

    Raises:
        FileNotFoundError: no such file. ValueError: key missing or shape not (N, 3).
    """
    path = Path(path)
    data = _load_pickle(path)
    if OFFICIAL_STAGE1_KEY not in data:
        raise ValueError(f"{path}: missing key {OFFICIAL_STAGE1_KEY!r}; found {sorted(data)}")
    transl = np.asarray(data[OFFICIAL_STAGE1_KEY], dtype=np.float32)
    _expect(transl, (-1, 3), str(path), OFFICIAL_STAGE1_KEY)
    return transl


def write_official_stage1(path: str | Path, pred_transl_pv: np.ndarray) -> None:
    """Write an official stage-1 `results.pkl`: `{'pred_cam_full_list': float32 (N, 3)}` (atomic).

    Raises:
        ValueError: `pred_transl_pv` is not (N, 3).
    """
    transl = np.asarray(pred_transl_pv, dtype=np.float32)
    _expect(transl, (-1, 3), str(path), OFFICIAL_STAGE1_KEY)
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    with atomic_open(path, "wb") as fh:
        pickle.dump({OFFICIAL_STAGE1_KEY: transl}, fh)


def load_any_results(path: str | Path) -> PredictionResults:
    """Read our `.npz` or an official stage-2 `.pkl` (chosen by the file's content, not its name).

    Raises:
        FileNotFoundError: no such file. ValueError: unknown format or bad content.
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"results file not found: {path}")
    with path.open("rb") as fh:
        magic = fh.read(4)
    if magic.startswith(b"PK"):
        return read_results(path)
    if magic[:1] == b"\x80":
        return read_official_stage2(path)
    raise ValueError(f"{path}: neither an egohmr results .npz nor an official results pickle")
