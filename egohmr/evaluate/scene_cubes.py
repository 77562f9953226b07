"""Stage-2 scene cubes mapped to the PV camera frame, one frame at a time (for collision and contact).

Cube files (official `preprocess_scene_s2_for_test.py`, reference-egohmr.md section 4):
`<scene_dir>/<split>/<recording>/<holo_time>/<timestamp>_frame_XXXXX.npy`, (20000, 3) in scene-mesh coordinates.
They are mapped to the PV frame by `P_pv = ADD_TRANS @ world2pv @ kinect2holo @ inv(kinect2scene) @ P_scene`, with the
EgoBody readers of `egohmr.data.egobody_format`.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import numpy as np

from egohmr.geometry.frames import apply_transform

# (frame row, imgname) -> (P, 3) float64, metres, PV frame; None when the frame has no scene.
ScenePointsFn = Callable[[int, str], "np.ndarray | None"]


def cube_file(scene_dir: str | Path, split: str, imgname: str) -> Path:
    """Path of the stage-2 cube of one frame: `<scene_dir>/<split>/<recording>/<holo_time>/<image stem>.npy`."""
    from egohmr.data.egobody_format import parse_imgname

    key = parse_imgname(imgname)
    stem = Path(str(imgname).replace("\\", "/")).stem
    return Path(scene_dir) / split / key.recording / key.holo_time / f"{stem}.npy"


class SceneCubeSource:
    """Callable `(row, imgname) -> (P, 3)` PV-frame scene cube points, reading EgoBody calibration files lazily.

    Args:
        dataset_dir: EgoBody root (`transf_matrices_all_seqs.pkl`, `data_info_release.csv`, `calibrations/`).
        scene_dir: root of the stage-2 cubes (e.g. `Egohmr_scene_preprocess_cube_s2_from_pred_release`).
        split: "test" (or "val"/"train").
    """

    def __init__(self, dataset_dir: str | Path, scene_dir: str | Path, split: str) -> None:
        from egohmr.data import egobody_format as ef

        self._ef = ef
        self.dataset_dir = Path(dataset_dir)
        self.scene_dir = Path(scene_dir)
        self.split = split
        if not self.scene_dir.is_dir():
            raise FileNotFoundError(f"scene cube folder not found: {self.scene_dir} (--scene-dir)")
        self._transforms = ef.read_transf_matrices(ef.transf_matrices_path(self.dataset_dir))
        self._scene_of = ef.recording_to_scene(ef.data_info_path(self.dataset_dir))
        self._kinect2scene: dict[str, np.ndarray] = {}

    def scene2pv(self, imgname: str) -> np.ndarray:
        """(4, 4) float64 transform scene mesh -> PV camera (OpenCV axes) of one frame."""
        ef = self._ef
        key = ef.parse_imgname(imgname)
        if key.recording not in self._transforms:
            raise ValueError(f"recording {key.recording!r} of {imgname!r} not in {ef.TRANSF_FILE}")
        if key.recording not in self._scene_of:
            raise ValueError(f"recording {key.recording!r} of {imgname!r} not in {ef.DATA_INFO_FILE}")
        if key.recording not in self._kinect2scene:
            scene = self._scene_of[key.recording]
            self._kinect2scene[key.recording] = ef.read_kinect2scene(
                ef.kinect2scene_path(self.dataset_dir, key.recording, scene)
            )
        tr = self._transforms[key.recording]
        if key.timestamp not in tr.world2pv:
            raise ValueError(f"timestamp {key.timestamp!r} of {imgname!r} not in trans_world2pv of {key.recording!r}")
        return ef.scene2pv(self._kinect2scene[key.recording], tr.kinect2holo, tr.world2pv[key.timestamp])

    def __call__(self, row: int, imgname: str) -> np.ndarray:
        path = cube_file(self.scene_dir, self.split, imgname)
        if not path.is_file():
            raise FileNotFoundError(f"scene cube of frame {row} ({imgname}) not found: {path}")
        points = np.load(path, allow_pickle=False)
        if points.ndim != 2 or points.shape[1] != 3:
            raise ValueError(f"{path}: expected scene points of shape (P, 3), got {points.shape}")
        return apply_transform(self.scene2pv(imgname), points.astype(np.float64))
