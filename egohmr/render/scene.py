"""What the renderer draws: meshes with colours and ids, merged and shaded in the camera frame, and its outputs.

Camera frame: OpenCV axes (x right, y down, z forward), metres. `NEAR_M`/`FAR_M` bound the depth both backends draw.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from egohmr.render.shading import shade_vertices

__all__ = ["FAR_M", "NEAR_M", "Mesh", "PreparedScene", "RenderOutput", "prepare"]

NEAR_M = 0.05
FAR_M = 200.0


@dataclass(frozen=True)
class Mesh:
    """A triangle mesh to draw.

    Attributes:
        vertices: (V, 3) float, metres, world frame (or camera frame when ``world2cam`` is None).
        faces: (F, 3) int vertex indices.
        colors: (V, 3) or (3,) base colour, float in [0, 1] or uint8.
        object_id: integer written to the object-id image (>= 0).
        shade: apply Lambertian shading (False: flat base colour).
    """

    vertices: np.ndarray
    faces: np.ndarray
    colors: np.ndarray
    object_id: int = 0
    shade: bool = True


@dataclass(frozen=True)
class RenderOutput:
    """Rendered images.

    Attributes:
        rgb: (H, W, 3) uint8.
        depth: (H, W) float32, metres along the optical axis (camera z); inf where nothing was drawn.
        object_id: (H, W) int32, the ``Mesh.object_id`` of the visible surface; -1 where nothing was drawn.
    """

    rgb: np.ndarray
    depth: np.ndarray
    object_id: np.ndarray


@dataclass(frozen=True)
class PreparedScene:
    """All meshes merged in the camera frame: positions (N, 3) float32, colours (N, 3) float32 in [0, 1],
    object ids (N,) float32, faces (M, 3) uint32."""

    positions_cam: np.ndarray
    colors: np.ndarray
    ids: np.ndarray
    faces: np.ndarray


def prepare(meshes: Sequence[Mesh], world2cam: np.ndarray | None) -> PreparedScene:
    """Move meshes to the camera frame, shade them and merge them into one vertex/face list."""
    positions, colors, ids, faces = [], [], [], []
    offset = 0
    T = None if world2cam is None else np.asarray(world2cam, dtype=np.float64)
    if T is not None and T.shape != (4, 4):
        raise ValueError(f"world2cam must be 4x4, got shape {T.shape}")
    up_cam = None if T is None else T[:3, :3] @ np.array([0.0, 1.0, 0.0])
    for mesh in meshes:
        v = np.asarray(mesh.vertices, dtype=np.float64)
        f = np.asarray(mesh.faces, dtype=np.int64)
        if v.ndim != 2 or v.shape[1] != 3 or f.ndim != 2 or f.shape[1] != 3:
            raise ValueError(
                f"mesh {mesh.object_id}: vertices (V,3) and faces (F,3) expected, got {v.shape}, {f.shape}"
            )
        if T is not None:
            v = v @ T[:3, :3].T + T[:3, 3]
        v = v.astype(np.float32)
        base = np.asarray(mesh.colors)
        if mesh.shade:
            col = shade_vertices(v, f, base, up_cam)
        else:
            base = base.astype(np.float32) / 255.0 if base.dtype == np.uint8 else base.astype(np.float32)
            col = np.broadcast_to(base, v.shape).astype(np.float32)
        positions.append(v)
        colors.append(col)
        ids.append(np.full(len(v), float(mesh.object_id), np.float32))
        faces.append(f + offset)
        offset += len(v)
    if not positions:
        z3 = np.zeros((0, 3), np.float32)
        return PreparedScene(z3, z3, np.zeros(0, np.float32), np.zeros((0, 3), np.uint32))
    return PreparedScene(
        np.concatenate(positions),
        np.concatenate(colors),
        np.concatenate(ids),
        np.concatenate(faces).astype(np.uint32),
    )
