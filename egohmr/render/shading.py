"""Per-vertex shading shared by both render backends (so they produce the same colours).

Lambertian shading with a head light (from the camera) plus a fixed light from above and an ambient term,
computed on the CPU per vertex in the camera frame (OpenCV axes: x right, y down, z forward). The backends then
interpolate the shaded vertex colours perspective-correctly.
"""

from __future__ import annotations

import numpy as np

AMBIENT = 0.35
HEAD_LIGHT = 0.45
TOP_LIGHT = 0.25


def vertex_normals(vertices: np.ndarray, faces: np.ndarray) -> np.ndarray:
    """Area-weighted unit vertex normals.

    Args:
        vertices: (V, 3) float, any frame.
        faces: (F, 3) int vertex indices.

    Returns:
        (V, 3) float32 unit normals (zero for unused vertices).
    """
    v = np.asarray(vertices, dtype=np.float32)
    f = np.asarray(faces, dtype=np.int64)
    fn = np.cross(v[f[:, 1]] - v[f[:, 0]], v[f[:, 2]] - v[f[:, 0]])  # (F, 3), length = 2 * area
    vn = np.zeros_like(v)
    for k in range(3):
        np.add.at(vn, f[:, k], fn)
    norm = np.linalg.norm(vn, axis=1, keepdims=True)
    return vn / np.maximum(norm, 1e-12)


def shade_vertices(
    vertices_cam: np.ndarray, faces: np.ndarray, colors: np.ndarray, up_cam: np.ndarray | None = None
) -> np.ndarray:
    """Shade vertex colours.

    Two-sided: a normal facing away from the camera is flipped, so rooms seen from inside are lit too.

    Args:
        vertices_cam: (V, 3) float, metres, camera frame (OpenCV axes).
        faces: (F, 3) int.
        colors: (V, 3) or (3,) float in [0, 1] or uint8, base colours.
        up_cam: (3,) unit "up" direction in the camera frame for the top light (default: -y, image up).

    Returns:
        (V, 3) float32 shaded colours in [0, 1].
    """
    v = np.asarray(vertices_cam, dtype=np.float32)
    base = np.asarray(colors)
    base = base.astype(np.float32) / 255.0 if base.dtype == np.uint8 else base.astype(np.float32)
    base = np.broadcast_to(base, v.shape)
    n = vertex_normals(v, faces)
    view = -v / np.maximum(np.linalg.norm(v, axis=1, keepdims=True), 1e-9)  # towards the camera
    facing = np.sum(n * view, axis=1)
    n = np.where(facing[:, None] < 0, -n, n)
    head = np.clip(np.abs(facing), 0.0, 1.0)
    up = np.array([0.0, -1.0, 0.0], np.float32) if up_cam is None else np.asarray(up_cam, np.float32)
    top = np.clip(n @ up, 0.0, 1.0)
    light = AMBIENT + HEAD_LIGHT * head + TOP_LIGHT * top
    return np.clip(base * light[:, None], 0.0, 1.0).astype(np.float32)
