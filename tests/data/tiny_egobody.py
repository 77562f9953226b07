"""A tiny EgoBody in the official layout with exact geometry, for data-pipeline tests (built in well under a second).

Two scenes (planar grid meshes), three recordings (two in ``train`` sharing one scene, one in ``test``), a few frames
each, images of ``W x H`` px that show a red marker at the MidHip keypoint and green markers at the other keypoints.
GT joints come from a small random body (``tests.body``), keypoints are their exact projections. Everything is written
with the ``egobody_format`` writers, so the readers under test see the real file formats.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from egohmr.body.io import save_body_model_npz
from egohmr.body.model import BodyModel
from egohmr.data import egobody_format as ebf
from egohmr.geometry.rotations import axis_angle_to_rotmat, rotmat_to_axis_angle
from tests.body import random_body_arrays

W, H = 160, 120
RECORDINGS = (("rec_a", "scene_one", "train", 5), ("rec_b", "scene_one", "train", 4), ("rec_c", "scene_two", "test", 3))


@dataclass(frozen=True)
class TinyEgoBody:
    root: Path
    body_path: Path
    width: int = W
    height: int = H


def _rigid(rng: np.random.Generator, angle_scale: float, t_scale: float) -> np.ndarray:
    T = np.eye(4)
    T[:3, :3] = axis_angle_to_rotmat(torch.from_numpy(rng.normal(scale=angle_scale, size=3))).numpy()
    T[:3, 3] = rng.normal(scale=t_scale, size=3)
    return T


def _grid_mesh(extent: float, n: int, y: float = 0.0) -> np.ndarray:
    g = np.linspace(-extent, extent, n)
    xx, zz = np.meshgrid(g, g, indexing="ij")
    floor = np.stack([xx.ravel(), np.full(xx.size, y), zz.ravel()], axis=1)
    wall_y = np.linspace(0.0, 2.5, n // 2)
    yy, xw = np.meshgrid(wall_y, g, indexing="ij")
    wall = np.stack([xw.ravel(), yy.ravel(), np.full(xw.size, extent)], axis=1)
    return np.concatenate([floor, wall])


def _write_obj(path: Path, verts: np.ndarray) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    lines = ["# tiny test scene"] + [f"v {x:.6f} {y:.6f} {z:.6f} 0.5 0.5 0.5" for x, y, z in verts]
    lines += ["f 1 2 3"]
    path.write_text("\n".join(lines) + "\n")


def _draw(img: np.ndarray, xy: np.ndarray, color: tuple[int, int, int], r: int = 2) -> None:
    x, y = int(round(xy[0])), int(round(xy[1]))
    img[max(y - r, 0) : max(y + r + 1, 0), max(x - r, 0) : max(x + r + 1, 0)] = color


def write_tiny_egobody(root: str | Path, seed: int = 0) -> TinyEgoBody:
    """Write the dataset under ``root`` and return its description."""
    from PIL import Image

    root = Path(root)
    rng = np.random.default_rng(seed)
    arrays = random_body_arrays(rng, num_vertices=300)
    body_path = save_body_model_npz(root / "body" / "tiny_body.npz", arrays)
    body = BodyModel(
        v_template=arrays["v_template"],
        shapedirs=arrays["shapedirs"],
        posedirs=arrays["posedirs"],
        j_regressor=arrays["J_regressor"],
        lbs_weights=arrays["weights"],
        parents=arrays["kintree_table"][0].astype(np.int64),
        faces=arrays["f"],
        landmark_vertex_ids=arrays["landmark_vertex_ids"],
    ).double()
    for scene in {r[1] for r in RECORDINGS}:
        _write_obj(ebf.scene_mesh_path(root, scene), _grid_mesh(4.0, 60))
    transforms, info_rows, per_split = {}, [], {"train": [], "val": [], "test": []}
    for rec, scene, split, nframes in RECORDINGS:
        kinect2scene = _rigid(rng, 0.5, 1.0)
        kinect2holo = _rigid(rng, 0.5, 1.0)
        ebf.write_kinect2scene(ebf.kinect2scene_path(root, rec, scene), kinect2scene)
        info_rows.append({"recording_name": rec, "scene_name": scene, "body_idx_fpv": "0 male"})
        world2pv = {}
        gender = "m" if rec != "rec_b" else "f"
        for k in range(nframes):
            ts = str(132000000000000000 + 3_333_333 * k + 10**9 * len(transforms))
            yaw = rng.uniform(-0.3, 0.3)
            # camera 1.6 m above the floor, looking along scene +z (rotation by pi about z maps y-up to y-down)
            Rc = np.array([[-1.0, 0, 0], [0, -1.0, 0], [0, 0, 1.0]]) @ np.array(
                [[math.cos(yaw), 0, -math.sin(yaw)], [0, 1, 0], [math.sin(yaw), 0, math.cos(yaw)]]
            )
            cam = np.array([rng.uniform(-0.5, 0.5), 1.6, rng.uniform(-2.0, -1.0)])
            scene2pv = np.eye(4)
            scene2pv[:3, :3] = Rc
            scene2pv[:3, 3] = -Rc @ cam
            world2pv[ts] = ebf.world2pv_from_scene2pv(scene2pv, kinect2scene, kinect2holo)
            fx = rng.uniform(140.0, 160.0)
            fy = fx * rng.uniform(0.98, 1.02)
            cx, cy = W / 2 + rng.uniform(-4, 4), H / 2 + rng.uniform(-4, 4)
            betas = rng.normal(scale=0.5, size=(1, 10))
            go = np.array([0.0, 0.0, math.pi]) + rng.normal(scale=0.2, size=3)  # upright in the camera
            pose = rng.normal(scale=0.15, size=(1, 69))
            R_go = axis_angle_to_rotmat(torch.from_numpy(go)[None])
            R_bp = axis_angle_to_rotmat(torch.from_numpy(pose).reshape(1, 23, 3))
            out0 = body(torch.from_numpy(betas), R_go, R_bp)
            pelvis_target = np.array([rng.uniform(-0.2, 0.2), rng.uniform(0.0, 0.2), rng.uniform(2.3, 2.8)])
            transl = pelvis_target - out0.joints[0, 0].numpy()
            out = body(torch.from_numpy(betas), R_go, R_bp, torch.from_numpy(transl)[None])
            op25 = out.openpose25()[0].numpy()
            uv = op25[:, :2] / op25[:, 2:] * [fx, fy] + [cx, cy]
            conf = np.ones(25)
            conf[rng.integers(15, 25)] = 0.0  # one undetected face/foot keypoint
            kp = np.concatenate([uv, conf[:, None]], axis=1)
            center = 0.5 * (uv.min(0) + uv.max(0))
            scale = (uv.max(0) - uv.min(0)).max() / 200.0
            frame = 3 * k + 10
            imgname = ebf.image_relpath(rec, "2021-01-01-120000", ts, frame)
            img = np.zeros((H, W, 3), dtype=np.uint8)
            for j in range(25):
                if j != 8:
                    _draw(img, uv[j], (0, 200, 0), r=1)
            _draw(img, uv[8], (255, 0, 0), r=2)
            path = root / imgname
            path.parent.mkdir(parents=True, exist_ok=True)
            Image.fromarray(img).save(path, format="PNG")  # lossless content, .jpg name like the official tree
            per_split[split].append(
                {
                    "imgname": imgname,
                    "center": center,
                    "scale": scale,
                    "pose": pose[0],
                    "shape": betas[0],
                    "global_orient_pv": rotmat_to_axis_angle(R_go)[0].numpy(),
                    "transl_pv": transl,
                    "fx": fx,
                    "fy": fy,
                    "cx": cx,
                    "cy": cy,
                    "valid_keypoints": kp,
                    "3d_joints_pv": out.joints[0].numpy(),
                    "gender": gender,
                }
            )
        transforms[rec] = ebf.RecordingTransforms(kinect2holo, world2pv)
    ebf.write_transf_matrices(ebf.transf_matrices_path(root), transforms)
    ebf.write_data_info(ebf.data_info_path(root), info_rows)
    for split, rows in per_split.items():
        if not rows:
            rows = per_split["train"][:2]  # val: reuse two train frames
        fields = {key: np.stack([np.asarray(r[key]) for r in rows]) for key in rows[0]}
        ebf.write_annotation_npz(ebf.annotation_path(root, split), fields)
    return TinyEgoBody(root=root, body_path=body_path)
