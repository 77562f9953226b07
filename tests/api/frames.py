"""Read one frame of a synthetic dataset as the API's inputs."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np


@dataclass
class Frame:
    name: str
    image: np.ndarray
    intrinsics: tuple[float, float, float, float]
    bbox: tuple[float, float, float, float]
    keypoints: np.ndarray
    mesh_path: Path
    verts_scene: np.ndarray
    scene2pv: np.ndarray
    transl_pv: np.ndarray


def load_frame(root: Path, index: int = 0) -> Frame:
    from PIL import Image

    from egohmr.data import egobody_format as ef
    from egohmr.data.scene_points import read_obj_vertices
    from egohmr.evaluate.scene_cubes import SceneCubeSource

    split = next(
        s
        for s in ef.SPLITS
        if ef.annotation_path(root, s).is_file() and len(ef.read_annotation_npz(ef.annotation_path(root, s))["imgname"])
    )
    d = ef.read_annotation_npz(ef.annotation_path(root, split))
    name = str(d["imgname"][index])
    with Image.open(root / name) as im:
        image = np.asarray(im.convert("RGB"))
    c, side = d["center"][index].astype(float), float(d["scale"][index]) * 200
    scene = ef.recording_to_scene(ef.data_info_path(root))[ef.parse_imgname(name).recording]
    mesh = ef.scene_mesh_path(root, scene)
    return Frame(
        name=name,
        image=image,
        intrinsics=tuple(float(d[k][index]) for k in ("fx", "fy", "cx", "cy")),
        bbox=(c[0] - side / 2, c[1] - side / 2, c[0] + side / 2, c[1] + side / 2),
        keypoints=d["valid_keypoints"][index].astype(float),
        mesh_path=mesh,
        verts_scene=read_obj_vertices(mesh),
        scene2pv=SceneCubeSource(root, root, split).scene2pv(name),
        transl_pv=d["transl_pv"][index].astype(float),
    )
