"""A binary glTF (.glb) per frame: the scene crop, the GT body and every sample as separate named nodes.

Node / mesh names: ``scene_points`` (a point cloud; or ``scene_mesh`` when the record has a scene mesh), ``pv_camera``
(a small pyramid at the wearer's PV camera), ``gt_body`` (when known), ``sample_00_mode``, ``sample_01``, ...
Colours are vertex colours (`egohmr.outputs.palette`: GT green, mode red, other samples blue-ish).

Frame: glTF is y-up with the viewer looking along -z, while the records are in the PV camera frame (OpenCV: x right,
y down, z forward). Points are written as ``(x, -y, -z)``, a 180-degree rotation about x (a proper rotation, so face
winding and handedness are kept); standard viewers then show the scene upright, seen from the wearer's side.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np

from egohmr.files import atomic_write_bytes
from egohmr.outputs.frame_record import FrameRecord
from egohmr.outputs.palette import CAMERA_RGB, GT_RGB, SCENE_RGB, sample_rgb
from egohmr.outputs.scene_view import camera_marker_pv

__all__ = ["PV_TO_GLTF", "build_glb_scene", "export_glb", "pv_to_gltf", "sample_node_name"]

PV_TO_GLTF = np.diag([1.0, -1.0, -1.0])


def pv_to_gltf(points_pv: np.ndarray) -> np.ndarray:
    """(..., 3) PV-frame (OpenCV axes) points -> glTF y-up axes: ``(x, -y, -z)``. Float32."""
    return (np.asarray(points_pv, np.float64) @ PV_TO_GLTF.T).astype(np.float32)


def sample_node_name(index: int) -> str:
    """Node name of sample `index`: ``sample_00_mode`` for the mode sample, ``sample_NN`` otherwise."""
    return "sample_00_mode" if index == 0 else f"sample_{index:02d}"


def _rgba(color: np.ndarray, n: int) -> np.ndarray:
    rgba = np.empty((n, 4), np.uint8)
    rgba[:, :3] = np.asarray(color, np.uint8)
    rgba[:, 3] = 255
    return rgba


def build_glb_scene(record: FrameRecord, include_camera: bool = True):
    """Build the trimesh Scene of a frame (glTF axes, see the module docstring).

    Args:
        record: the frame.
        include_camera: add the ``pv_camera`` marker.

    Returns:
        trimesh.Scene whose geometry names equal the node names listed in the module docstring.
    """
    import trimesh

    scene = trimesh.Scene()

    def add(geom, name: str) -> None:
        scene.add_geometry(geom, node_name=name, geom_name=name)

    if record.scene_mesh_vertices_pv is not None:
        v = pv_to_gltf(record.scene_mesh_vertices_pv)
        add(
            trimesh.Trimesh(v, record.scene_mesh_faces, vertex_colors=_rgba(SCENE_RGB, len(v)), process=False),
            "scene_mesh",
        )
    elif len(record.scene_points_pv):
        pts = pv_to_gltf(record.scene_points_pv)
        colors = record.scene_colors if record.scene_colors is not None else np.broadcast_to(SCENE_RGB, pts.shape)
        rgba = np.concatenate([colors, np.full((len(pts), 1), 255, np.uint8)], axis=1)
        add(trimesh.PointCloud(pts, colors=rgba), "scene_points")
    if include_camera:
        cv, cf = camera_marker_pv()
        add(trimesh.Trimesh(pv_to_gltf(cv), cf, vertex_colors=_rgba(CAMERA_RGB, len(cv)), process=False), "pv_camera")
    faces = record.faces
    if record.gt_vertices_pv is not None:
        v = pv_to_gltf(record.gt_vertices_pv)
        add(trimesh.Trimesh(v, faces, vertex_colors=_rgba(GT_RGB, len(v)), process=False), "gt_body")
    for i, verts in enumerate(record.pred_vertices_pv):
        v = pv_to_gltf(verts)
        add(trimesh.Trimesh(v, faces, vertex_colors=_rgba(sample_rgb(i), len(v)), process=False), sample_node_name(i))
    return scene


def export_glb(record: FrameRecord, path: str | os.PathLike[str], include_camera: bool = True) -> Path:
    """Write the frame's .glb (atomically).

    Args:
        record: the frame.
        path: destination; its folder is created if missing.
        include_camera: add the ``pv_camera`` marker.

    Returns:
        The path written.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    data = build_glb_scene(record, include_camera).export(file_type="glb")
    atomic_write_bytes(path, data)
    return path
