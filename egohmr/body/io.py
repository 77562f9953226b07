"""Reading and writing SMPL-format body model files (``.pkl`` with or without chumpy, ``.npz``).

File keys (SMPL pickle layout): ``v_template (V,3)``, ``shapedirs (V,3,>=L)``, ``posedirs (V,3,207)``,
``J_regressor (24,V)`` dense or scipy.sparse, ``weights (V,24)``, ``kintree_table (2,24)`` (row 0 = parents, the
root's value is ignored), ``f (F,3)`` and optionally ``landmark_vertex_ids (11,)`` in ``constants.LANDMARK_NAMES``
order. Without ``landmark_vertex_ids`` a 6,890-vertex file (real SMPL) uses ``constants.SMPL_LANDMARK_VERTEX_IDS``.

Official SMPL ``.pkl`` files are Python 2 pickles holding chumpy objects; they are read without chumpy through the
allow-list unpickler of `egohmr.safe_load` (`SMPL_FILE`), which maps chumpy classes to a placeholder keeping the wrapped
array and CSC/CSR matrices to stand-ins rebuilt with scipy. Only numpy arrays, those stand-ins and plain Python
containers can come out of such a file; any other class is refused.
"""

from __future__ import annotations

import logging
import zipfile
from collections.abc import Mapping
from pathlib import Path
from typing import Any, Literal

import numpy as np

from egohmr.body.model import BodyModel
from egohmr.constants import LANDMARK_NAMES, NUM_SMPL_JOINTS, SMPL_LANDMARK_VERTEX_IDS
from egohmr.safe_load import NUMPY_DATA, RECONSTRUCTOR, StandIn, UnsafeFileError, load_pickle

__all__ = [
    "OPEN_BODY_DIR",
    "REQUIRED_KEYS",
    "Gender",
    "load_body_arrays",
    "load_body_model",
    "resolve_body_path",
    "save_body_model_npz",
]

logger = logging.getLogger(__name__)

Gender = Literal["neutral", "male", "female"]
GENDERS: tuple[str, ...] = ("neutral", "male", "female")
OPEN_BODY_DIR = Path(__file__).resolve().parents[1] / "assets" / "body"
OPEN_SOURCES = {"open": "open_body_{gender}.npz", "open-lowres": "open_body_lowres_{gender}.npz"}
REQUIRED_KEYS: tuple[str, ...] = ("v_template", "shapedirs", "posedirs", "J_regressor", "weights", "kintree_table", "f")
SMPL_HELP = (
    "Get SMPL from https://smpl.is.tue.mpg.de (registration required) and place the files as "
    "data/smpl/SMPL_NEUTRAL.pkl, data/smpl/SMPL_MALE.pkl, data/smpl/SMPL_FEMALE.pkl (or in data/smpl/smpl/, the "
    "official layout; docs/reproduce.md), or use the packaged open body (source='open')."
)


class _ChumpyPlaceholder(StandIn):
    """Stand-in for any chumpy class found in a pickle; keeps the object's state (the array is in ``x``)."""

    def __setstate__(self, state: Any) -> None:
        if isinstance(state, tuple):  # (dict, slots) form
            merged: dict[str, Any] = {}
            for part in state:
                if isinstance(part, dict):
                    merged.update(part)
            state = merged
        if isinstance(state, dict):
            self.__dict__.update(state)
        else:
            self.__dict__["_state"] = state

    def to_array(self, key: str, path: Path) -> np.ndarray:
        if "x" not in self.__dict__:
            raise ValueError(
                f"{path}: key '{key}' holds a chumpy object without a stored array ('x'); "
                "convert the file with chumpy to plain numpy arrays first. " + SMPL_HELP
            )
        return np.asarray(self.__dict__["x"])


class _CompressedSparse(StandIn):
    """Stand-in for a pickled scipy.sparse CSC/CSR matrix: keeps its arrays (``data``, ``indices``, ``indptr``,
    ``_shape``) and rebuilds the matrix with scipy only when asked for the dense array."""

    layout = ""

    def __setstate__(self, state: Any) -> None:
        if isinstance(state, dict):
            self.__dict__.update(state)

    def to_array(self, key: str, path: Path) -> np.ndarray:
        import scipy.sparse

        build = scipy.sparse.csc_matrix if self.layout == "csc" else scipy.sparse.csr_matrix
        parts = self.__dict__
        try:
            shape = tuple(int(n) for n in parts.get("_shape", parts.get("shape")))
            arrays = tuple(np.asarray(parts[name]) for name in ("data", "indices", "indptr"))
            return np.asarray(build(arrays, shape=shape).toarray())
        except (KeyError, TypeError, ValueError) as err:
            raise ValueError(
                f"{path}: key '{key}' is not a readable {self.layout.upper()} sparse matrix ({err})"
            ) from None


class _CscStandIn(_CompressedSparse):
    layout = "csc"


class _CsrStandIn(_CompressedSparse):
    layout = "csr"


SMPL_FILE = NUMPY_DATA.extended(
    {
        **{(module, "csc_matrix"): _CscStandIn for module in ("scipy.sparse", "scipy.sparse.csc", "scipy.sparse._csc")},
        **{(module, "csr_matrix"): _CsrStandIn for module in ("scipy.sparse", "scipy.sparse.csr", "scipy.sparse._csr")},
        ("scipy.sparse._csc", "csc_array"): _CscStandIn,
        ("scipy.sparse._csr", "csr_array"): _CsrStandIn,
        **RECONSTRUCTOR,
    },
    summary="numpy arrays, chumpy arrays, CSC/CSR sparse matrices and plain Python values",
    stand_in_modules={"chumpy": _ChumpyPlaceholder},
)
"""What an SMPL ``.pkl`` may name: chumpy classes become `_ChumpyPlaceholder` (chumpy is never imported), scipy
CSC/CSR matrices become `_CompressedSparse` stand-ins."""


def _to_dense(value: Any, key: str, path: Path) -> np.ndarray:
    if isinstance(value, _ChumpyPlaceholder | _CompressedSparse):
        return value.to_array(key, path)
    return np.asarray(value)


def _read_pkl(path: Path) -> dict[str, Any]:
    try:
        data = load_pickle(path, SMPL_FILE, what="SMPL body model file")
    except UnsafeFileError:
        raise
    except ValueError as err:
        raise ValueError(f"{err}. {SMPL_HELP}") from None
    if not isinstance(data, dict):
        raise ValueError(f"{path}: expected a dict of arrays in the pickle, got {type(data).__name__}. {SMPL_HELP}")
    return data


def _read_npz(path: Path) -> dict[str, Any]:
    try:
        with np.load(path, allow_pickle=False) as data:
            return {key: data[key] for key in data.files}
    except (zipfile.BadZipFile, ValueError, OSError, EOFError) as err:
        raise ValueError(f"{path}: cannot read as an SMPL .npz file ({err}). {SMPL_HELP}") from err


def load_body_arrays(path: str | Path, num_betas: int = 10) -> dict[str, np.ndarray]:
    """Read and validate an SMPL-format file into plain numpy arrays (file key names).

    Args:
        path: ``.pkl`` or ``.npz`` file.
        num_betas: number of shape components to keep (the first ``num_betas`` of ``shapedirs``).

    Returns:
        dict with ``v_template (V,3) float32``, ``shapedirs (V,3,num_betas) float32``, ``posedirs (V,3,207)
        float32``, ``J_regressor (24,V) float32`` dense, ``weights (V,24) float32``, ``kintree_table (2,24) int64``,
        ``f (F,3) int64`` and ``landmark_vertex_ids (11,) int64``.

    Raises:
        FileNotFoundError: the file does not exist.
        ValueError: unreadable file, missing key or wrong shape (message names the file and key).
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"body model file not found: {path}. {SMPL_HELP}")
    suffix = path.suffix.lower()
    if suffix == ".pkl":
        raw = _read_pkl(path)
    elif suffix == ".npz":
        raw = _read_npz(path)
    else:
        raise ValueError(f"{path}: unsupported body model file type {suffix!r}; expected .pkl or .npz. {SMPL_HELP}")
    arrays: dict[str, np.ndarray] = {}
    for key in REQUIRED_KEYS:
        if key not in raw:
            raise ValueError(f"{path}: missing key '{key}' (found keys: {sorted(raw)}). {SMPL_HELP}")
        arrays[key] = _to_dense(raw[key], key, path)
    if "landmark_vertex_ids" in raw:
        arrays["landmark_vertex_ids"] = _to_dense(raw["landmark_vertex_ids"], "landmark_vertex_ids", path)
    elif arrays["v_template"].shape[:1] == (6890,):
        arrays["landmark_vertex_ids"] = np.asarray(SMPL_LANDMARK_VERTEX_IDS, dtype=np.int64)
    else:
        raise ValueError(
            f"{path}: missing key 'landmark_vertex_ids' ({len(LANDMARK_NAMES)} vertex ids in the order "
            f"{', '.join(LANDMARK_NAMES)}); it is required for meshes other than SMPL's 6,890 vertices"
        )
    return _validate(arrays, num_betas, str(path))


def _validate(arrays: Mapping[str, Any], num_betas: int, where: str) -> dict[str, np.ndarray]:
    """Check shapes and convert dtypes; ``where`` names the file in messages."""
    out: dict[str, np.ndarray] = {}
    v_template = np.asarray(arrays["v_template"])
    if v_template.ndim != 2 or v_template.shape[1] != 3:
        raise ValueError(f"{where}: key 'v_template' must have shape (V, 3), got {v_template.shape}")
    V = v_template.shape[0]
    J = NUM_SMPL_JOINTS
    out["v_template"] = v_template.astype(np.float32)
    shapedirs = np.asarray(arrays["shapedirs"])
    if shapedirs.ndim != 3 or shapedirs.shape[:2] != (V, 3) or shapedirs.shape[2] < num_betas:
        raise ValueError(f"{where}: key 'shapedirs' must have shape ({V}, 3, >={num_betas}), got {shapedirs.shape}")
    out["shapedirs"] = shapedirs[:, :, :num_betas].astype(np.float32)
    checks = {
        "posedirs": ((V, 3, 9 * (J - 1)), np.float32),
        "J_regressor": ((J, V), np.float32),
        "weights": ((V, J), np.float32),
        "kintree_table": ((2, J), np.int64),
        "landmark_vertex_ids": ((len(LANDMARK_NAMES),), np.int64),
    }
    for key, (shape, dtype) in checks.items():
        if key not in arrays:
            raise ValueError(f"{where}: missing key '{key}'")
        value = np.asarray(arrays[key].toarray() if hasattr(arrays[key], "toarray") else arrays[key])
        if value.shape != shape:
            raise ValueError(f"{where}: key '{key}' must have shape {shape}, got {value.shape}")
        out[key] = value.astype(dtype)
    faces = np.asarray(arrays["f"])
    if faces.ndim != 2 or faces.shape[1] != 3:
        raise ValueError(f"{where}: key 'f' must have shape (F, 3), got {faces.shape}")
    if faces.size and (faces.min() < 0 or faces.max() >= V):
        raise ValueError(f"{where}: key 'f' indexes vertices outside 0..{V - 1}")
    out["f"] = faces.astype(np.int64)
    ids = out["landmark_vertex_ids"]
    if ids.min() < 0 or ids.max() >= V:
        raise ValueError(f"{where}: key 'landmark_vertex_ids' must index the {V} vertices, got {ids.tolist()}")
    parents = out["kintree_table"][0].copy()
    parents[0] = -1
    if any(not 0 <= p < j for j, p in enumerate(parents[1:], start=1)):
        raise ValueError(f"{where}: key 'kintree_table' row 0 must list each joint's parent before it, got {parents}")
    for key in ("v_template", "shapedirs", "posedirs", "J_regressor", "weights"):
        if not np.isfinite(out[key]).all():
            raise ValueError(f"{where}: key '{key}' contains NaN or infinite values")
    return out


def resolve_body_path(source: str | Path = "open", gender: Gender = "neutral") -> Path:
    """Path of the body model file ``load_body_model`` would read.

    Args:
        source: ``"open"`` / ``"open-lowres"`` (packaged open body), a directory holding
            ``SMPL_{NEUTRAL,MALE,FEMALE}.pkl`` (or ``.npz``) directly or in its ``smpl/`` folder (the official layout:
            smplx's ``create('data/smpl', model_type='smpl')`` reads ``data/smpl/smpl/SMPL_*.pkl``), or a file.
        gender: "neutral", "male" or "female"; selects the file inside a directory or packaged set.

    Raises:
        FileNotFoundError: the file is not there (message gives the expected path and where to get SMPL).
        ValueError: unknown gender.
    """
    if gender not in GENDERS:
        raise ValueError(f"gender must be one of {GENDERS}, got {gender!r}")
    if isinstance(source, str) and source in OPEN_SOURCES:
        path = OPEN_BODY_DIR / OPEN_SOURCES[source].format(gender=gender)
        if not path.is_file():
            raise FileNotFoundError(
                f"packaged open body not found: {path}. It is generated by scripts/build_open_body.py; "
                "reinstall the package or pass an SMPL directory (e.g. data/smpl) as the body model source."
            )
        return path
    path = Path(source).expanduser()
    if path.is_dir():
        stem = f"SMPL_{gender.upper()}"
        candidates = [folder / f"{stem}{suffix}" for folder in (path, path / "smpl") for suffix in (".pkl", ".npz")]
        for candidate in candidates:
            if candidate.is_file():
                return candidate
        raise FileNotFoundError(f"no {stem}.pkl or {stem}.npz in {path} or {path / 'smpl'}. {SMPL_HELP}")
    if not path.is_file():
        raise FileNotFoundError(
            f"body model source not found: {path} (expected 'open', 'open-lowres', a directory such as data/smpl, "
            f"or a .pkl/.npz file). {SMPL_HELP}"
        )
    return path


def load_body_model(source: str | Path = "open", gender: Gender = "neutral", num_betas: int = 10) -> BodyModel:
    """Load a body model: the packaged open body, an official SMPL directory or a single file.

    Args:
        source: ``"open"`` (``egohmr/assets/body/open_body_{gender}.npz``), ``"open-lowres"``
            (``open_body_lowres_{gender}.npz``), a directory with ``SMPL_{NEUTRAL,MALE,FEMALE}.pkl`` (or ``.npz``)
            directly or in ``smpl/`` (official ``data/smpl/smpl/``), e.g. ``data/smpl``, or one ``.pkl``/``.npz`` file.
        gender: "neutral", "male" or "female". For a single file it is only recorded on the model.
        num_betas: shape components to keep (10 in EgoHMR).

    Returns:
        BodyModel on CPU, float32 buffers.

    Raises:
        FileNotFoundError: missing file or directory entry.
        ValueError: unreadable file, missing key or wrong shape (naming the file and key).
    """
    path = resolve_body_path(source, gender)
    arrays = load_body_arrays(path, num_betas=num_betas)
    logger.info("body model %s: loaded %s (%d vertices)", source, path, arrays["v_template"].shape[0])
    return BodyModel(
        v_template=arrays["v_template"],
        shapedirs=arrays["shapedirs"],
        posedirs=arrays["posedirs"],
        j_regressor=arrays["J_regressor"],
        lbs_weights=arrays["weights"],
        parents=arrays["kintree_table"][0],
        faces=arrays["f"],
        landmark_vertex_ids=arrays["landmark_vertex_ids"],
        gender=gender,
    )


def save_body_model_npz(path: str | Path, arrays: Mapping[str, Any]) -> Path:
    """Write an SMPL-format ``.npz`` (compressed) that :func:`load_body_model` reads back.

    Args:
        path: output file (``.npz``); parent folders are created.
        arrays: the keys of :data:`REQUIRED_KEYS` plus ``landmark_vertex_ids`` (11,), shapes as in the module
            docstring; extra keys (e.g. ``gender``, ``licence``) are stored as well if they are plain arrays/strings.

    Returns:
        The written path.

    Raises:
        ValueError: a required key is missing or has a wrong shape.
    """
    path = Path(path)
    missing = [key for key in (*REQUIRED_KEYS, "landmark_vertex_ids") if key not in arrays]
    if missing:
        raise ValueError(f"save_body_model_npz({path}): missing keys {missing}")
    num_betas = np.asarray(arrays["shapedirs"]).shape[-1]
    clean = _validate(arrays, num_betas, f"save_body_model_npz({path})")
    clean["f"] = clean["f"].astype(np.int32 if clean["f"].max() < 2**31 - 1 else np.int64)
    extras = {key: np.asarray(value) for key, value in arrays.items() if key not in clean}
    for key, value in extras.items():
        if value.dtype == object:
            raise ValueError(f"save_body_model_npz({path}): extra key '{key}' is not a plain array or string")
    path.parent.mkdir(parents=True, exist_ok=True)
    np.savez_compressed(path, **clean, **extras)
    return path
