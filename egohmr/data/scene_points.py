"""Scene points for both stages: preprocessed file formats, keys, paths and the frame chain to the PV camera.

Files (reference-egohmr.md section 4):
    * stage 1 (``egohmr preprocess scene-s1``): ``<s1_dir>/pcd_verts_dict_<split>.pkl`` = {saved frame key ->
      (20000, 3) float64, master-Kinect frame} and ``<s1_dir>/map_dict_<split>.pkl`` = {frame key -> saved frame key}.
      A frame key is the last five components of the npz ``imgname``,
      ``egocentric_color/<recording>/<holo_time>/PV/<timestamp>_frame_XXXXX.jpg`` (see ``s1_key``). The official
      writer builds keys with ``"/".join(abs_path.split('/')[4:])``, which equals this only for a data root with three
      components (``/mnt/ssd/egobody_release/``); on reading, keys of both dicts are normalised to their last five
      components, so official files written from such a root load unchanged.
    * stage 2 (``egohmr preprocess scene-s2-train`` / ``scene-s2-test``):
      ``<s2_root>/<split>/<recording>/<holo_time>/<timestamp>_frame_XXXXX.npy`` = (20000, 3) float64 in scene-mesh
      coordinates (the official file name is the image basename without ``.jpg``).

Chains (column vectors, ``egobody_format``): ``P_pv = ADD_TRANS @ world2pv @ kinect2holo @ P_kinect`` (stage 1) and
``P_pv = ADD_TRANS @ world2pv @ kinect2holo @ inv(kinect2scene) @ P_scene`` (stage 2).
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np

from egohmr.data import egobody_format as ebf
from egohmr.data.egobody_format import parse_imgname
from egohmr.safe_load import NUMPY_DATA, load_pickle

__all__ = [
    "S1_MAP_FILE",
    "S1_PCD_FILE",
    "SceneS1Store",
    "kinect2pv_per_frame",
    "load_s2_cube",
    "scene2kinect_per_recording",
    "read_obj_vertices",
    "s1_key",
    "s2_cube_path",
]

S1_PCD_FILE = "pcd_verts_dict_{split}.pkl"
S1_MAP_FILE = "map_dict_{split}.pkl"
KEY_COMPONENTS = 5


def s1_key(imgname: str) -> str:
    """Stage-1 frame key: the last five path components of ``imgname`` (``egocentric_color/<rec>/<holo>/PV/<f>``).

    Raises:
        ValueError: fewer than five components.
    """
    parts = str(imgname).replace("\\", "/").split("/")
    if len(parts) < KEY_COMPONENTS:
        raise ValueError(f"imgname {imgname!r}: expected egocentric_color/<recording>/<holo_time>/PV/<file>.jpg")
    return "/".join(parts[-KEY_COMPONENTS:])


def s2_cube_path(s2_root: str | Path, split: str, imgname: str) -> Path:
    """``<s2_root>/<split>/<recording>/<holo_time>/<image basename without .jpg>.npy`` (official naming)."""
    key = parse_imgname(imgname)
    base = str(imgname).replace("\\", "/").split("/")[-1].rsplit(".", 1)[0]
    return Path(s2_root) / split / key.recording / key.holo_time / f"{base}.npy"


def kinect2pv_per_frame(root: str | Path, imgnames: list[str]) -> np.ndarray:
    """Per-frame master Kinect -> PV (OpenCV axes) transforms ``ADD_TRANS @ world2pv @ kinect2holo``.

    Args:
        root: EgoBody root holding ``transf_matrices_all_seqs.pkl``.
        imgnames: N npz ``imgname`` values.

    Returns:
        (N, 4, 4) float64.

    Raises:
        ValueError: unknown recording or timestamp (naming the file and field).
    """
    path = ebf.transf_matrices_path(root)
    transf = ebf.read_transf_matrices(path)
    out = np.empty((len(imgnames), 4, 4))
    for i, name in enumerate(imgnames):
        key = parse_imgname(name)
        if key.recording not in transf:
            raise ValueError(f"{path}: unknown recording {key.recording!r} (from imgname {name!r})")
        rec = transf[key.recording]
        if key.timestamp not in rec.world2pv:
            raise ValueError(
                f"{path}: recording {key.recording!r} field 'trans_world2pv' has no timestamp {key.timestamp!r}"
            )
        out[i] = ebf.ADD_TRANS @ rec.world2pv[key.timestamp] @ rec.kinect2holo
    return out


def scene2kinect_per_recording(root: str | Path, recordings: list[str]) -> tuple[dict[str, str], dict[str, np.ndarray]]:
    """Scene name and scene mesh -> master Kinect transform (``inv(kinect12_to_world)``) of each recording.

    Returns:
        ``({recording: scene}, {recording: (4, 4) float64 scene2kinect})``.

    Raises:
        ValueError: a recording missing from ``data_info_release.csv``. FileNotFoundError: missing calibration.
    """
    info_path = ebf.data_info_path(root)
    rec2scene = ebf.recording_to_scene(info_path)
    scenes, transforms = {}, {}
    for rec in dict.fromkeys(recordings):
        if rec not in rec2scene:
            raise ValueError(f"{info_path}: unknown recording {rec!r} (column 'recording_name')")
        scenes[rec] = rec2scene[rec]
        T = ebf.read_kinect2scene(ebf.kinect2scene_path(root, rec, rec2scene[rec]))
        transforms[rec] = ebf.invert_rigid_np(T)
    return scenes, transforms


def _check_points(arr: np.ndarray, where: str, num_points: int | None) -> np.ndarray:
    arr = np.asarray(arr)
    if arr.ndim != 2 or arr.shape[1] != 3:
        raise ValueError(f"{where}: expected (P, 3) scene points, got shape {arr.shape}")
    if num_points is not None and arr.shape[0] != num_points:
        raise ValueError(
            f"{where}: expected {num_points} points, got {arr.shape[0]} (data.num_scene_points_file of the config or"
            f" checkpoint; re-run `egohmr preprocess` with --num-points {num_points})"
        )
    return arr


def load_s2_cube(path: str | Path, num_points: int | None = 20000) -> np.ndarray:
    """Read one stage-2 cube ``.npy`` -> (P, 3) float64, scene-mesh frame.

    Raises:
        FileNotFoundError: missing file (run ``egohmr preprocess scene-s2-train`` / ``scene-s2-test``).
        ValueError: wrong shape.
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(
            f"missing stage-2 scene cube {path} (write it with `egohmr preprocess scene-s2-train` or `scene-s2-test`)"
        )
    return _check_points(np.load(path, allow_pickle=False), str(path), num_points).astype(np.float64, copy=False)


class SceneS1Store:
    """Stage-1 scene points (``pcd_verts_dict`` + ``map_dict``), loaded lazily once per process.

    The constructor only checks that the files exist, so the object is cheap to send to DataLoader workers; the
    pickles (about 0.5 MB per saved frame) are read on first use in each process.
    """

    def __init__(self, s1_dir: str | Path, split: str, num_points: int | None = 20000) -> None:
        self.pcd_path = Path(s1_dir) / S1_PCD_FILE.format(split=split)
        self.map_path = Path(s1_dir) / S1_MAP_FILE.format(split=split)
        for p in (self.pcd_path, self.map_path):
            if not p.is_file():
                raise FileNotFoundError(f"missing stage-1 scene file {p} (write it with `egohmr preprocess scene-s1`)")
        self.num_points = num_points
        self._pid: int | None = None
        self._pcd: dict[str, np.ndarray] = {}
        self._map: dict[str, str] = {}

    def __getstate__(self) -> dict:
        state = self.__dict__.copy()
        state["_pid"], state["_pcd"], state["_map"] = None, {}, {}
        return state

    def _load(self) -> None:
        if self._pid == os.getpid():
            return
        raw_map = load_pickle(self.map_path, NUMPY_DATA, what="stage-1 scene pickle")
        raw_pcd = load_pickle(self.pcd_path, NUMPY_DATA, what="stage-1 scene pickle")
        for path, obj in ((self.map_path, raw_map), (self.pcd_path, raw_pcd)):
            if not isinstance(obj, dict):
                raise ValueError(f"{path}: expected a dict, got {type(obj).__name__}")
        self._map = {s1_key(k): s1_key(v) for k, v in raw_map.items()}
        self._pcd = {s1_key(k): v for k, v in raw_pcd.items()}
        self._pid = os.getpid()

    def saved_key(self, imgname: str) -> str:
        """Key of the saved frame whose points serve ``imgname``."""
        self._load()
        key = s1_key(imgname)
        if key not in self._map:
            raise KeyError(f"{self.map_path}: no entry for frame {key!r} (was scene-s1 run for this split?)")
        return self._map[key]

    def points_kinect(self, imgname: str) -> np.ndarray:
        """(P, 3) float64 points of the saved frame serving ``imgname``, master-Kinect frame of its recording."""
        saved = self.saved_key(imgname)
        if saved not in self._pcd:
            raise KeyError(f"{self.pcd_path}: no points for saved frame {saved!r} (referenced by {self.map_path})")
        where = f"{self.pcd_path}: entry {saved!r}"
        return _check_points(self._pcd[saved], where, self.num_points).astype(np.float64, copy=False)


def read_obj_vertices(path: str | Path) -> np.ndarray:
    """Vertices of a Wavefront OBJ file, in file order (``v x y z [r g b]`` lines) -> (V, 3) float64.

    A small vectorised reader (no faces, no materials): the scene preprocessing only needs vertex positions, in the
    order the official open3d reader returns them.

    Raises:
        FileNotFoundError: missing file. ValueError: no vertices.
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"missing scene mesh {path}")
    data = path.read_bytes()
    lines = [ln for ln in data.split(b"\n") if ln[:2] == b"v " or ln[:2] == b"v\t"]
    if not lines:
        raise ValueError(f"{path}: no vertex ('v x y z') lines")
    ncols = len(lines[0].split()) - 1
    flat = np.array(b" ".join(ln[2:] for ln in lines).split(), dtype=np.float64)
    if ncols < 3 or flat.size != ncols * len(lines):
        # mixed column counts: parse line by line
        rows = [ln.split()[1:4] for ln in lines]
        if any(len(r) != 3 for r in rows):
            raise ValueError(f"{path}: a vertex line has fewer than 3 coordinates")
        return np.array(rows, dtype=np.float64)
    return flat.reshape(len(lines), ncols)[:, :3].copy()
