"""Exact inside/outside test of points against a posed body mesh (generalised winding number).

The winding number (Jacobson et al. 2013) of a closed, consistently oriented mesh is 1 inside and 0 outside, and
degrades gracefully on meshes with small holes, which makes it the reference for the collision metrics and for
judging the fast differentiable score (`egohmr.collision.surface`). Points outside the mesh's axis-aligned box
(plus a margin) are outside by construction and are not evaluated. The winding number itself comes from libigl
(`igl.winding_number`, exact; MPL-2.0, PyPI `libigl`).
"""

from __future__ import annotations

import numpy as np


def _as_float64(array, name: str, last_dim: int) -> np.ndarray:
    array = np.asarray(array.detach().cpu() if hasattr(array, "detach") else array, dtype=np.float64)
    if array.ndim != 2 or array.shape[1] != last_dim:
        raise ValueError(f"{name}: expected shape (N, {last_dim}), got {array.shape}")
    if not np.isfinite(array).all():
        raise ValueError(f"{name}: contains NaN or inf")
    return np.ascontiguousarray(array)


def winding_numbers(points, vertices, faces, box_margin: float = 1e-3) -> np.ndarray:
    """Generalised winding number of each point w.r.t. one mesh.

    Args:
        points: (P, 3) float, metres, same frame as `vertices`.
        vertices: (V, 3) float, metres. Mesh vertex positions.
        faces: (F, 3) int. Triangles, outward (counter-clockwise seen from outside) winding.
        box_margin: metres. Points farther than this outside the mesh's bounding box get 0 without evaluation.

    Returns:
        (P,) float64: about 1 inside, 0 outside.
    """
    points = _as_float64(points, "points", 3)
    vertices = _as_float64(vertices, "vertices", 3)
    faces = np.ascontiguousarray(np.asarray(faces.cpu() if hasattr(faces, "cpu") else faces, dtype=np.int64))
    if faces.ndim != 2 or faces.shape[1] != 3:
        raise ValueError(f"faces: expected shape (F, 3), got {faces.shape}")
    result = np.zeros(len(points))
    if len(points) == 0 or len(faces) == 0:
        return result
    lo = vertices.min(axis=0) - box_margin
    hi = vertices.max(axis=0) + box_margin
    in_box = np.all((points >= lo) & (points <= hi), axis=1)
    if in_box.any():
        import igl

        result[in_box] = igl.winding_number(vertices, faces, np.ascontiguousarray(points[in_box]))
    return result


def inside_mask(points, vertices, faces) -> np.ndarray:
    """(P,) bool: True where a point lies inside the mesh (winding number > 0.5).

    Args:
        points: (P, 3) float, metres. vertices: (V, 3) float, metres, same frame. faces: (F, 3) int.
    """
    return winding_numbers(points, vertices, faces) > 0.5
