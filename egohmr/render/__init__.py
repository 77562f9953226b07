"""A small offscreen renderer: coloured triangle meshes -> RGB, metric depth and per-pixel object id.

``render(meshes, K, world2cam, width, height, backend)`` with backends:

- ``"egl"``: moderngl on a headless EGL context (Mesa llvmpipe works), created lazily, once per process (create
  it after ``fork``, i.e. inside worker processes);
- ``"numpy"``: a pure-numpy z-buffer rasteriser (slow, no dependency; the cross-check for tests);
- ``"auto"``: EGL if a context can be created in this process, numpy otherwise.

Camera: pinhole, OpenCV axes (x right, y down, z forward), intrinsics ``K = (fx, fy, cx, cy)`` in pixels with
OpenCV pixel centres (pixel (u, v) covers [u - 0.5, u + 0.5)). No face culling. Both backends shade identically
(`egohmr.render.shading`) and agree on the segmentation up to ties on triangle edges.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

import numpy as np

from egohmr.render.shading import shade_vertices

__all__ = ["Mesh", "PreparedScene", "RenderOutput", "egl_available", "prepare", "render"]

logger = logging.getLogger(__name__)
Backend = Literal["auto", "egl", "numpy"]
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


_EGL_STATE: dict[int, object] = {}  # pid -> EGLRenderer or the Exception raised creating it (per-process cache)


def _egl_renderer():
    pid = os.getpid()
    if pid not in _EGL_STATE:
        try:
            from egohmr.render.moderngl_renderer import EGLRenderer

            _EGL_STATE[pid] = EGLRenderer()
        except Exception as err:  # noqa: BLE001 - any failure means "EGL unavailable"
            logger.debug("EGL renderer unavailable: %s", err)
            _EGL_STATE[pid] = err
    return _EGL_STATE[pid]


def egl_available() -> bool:
    """True if moderngl can create a headless EGL context in this process."""
    return not isinstance(_egl_renderer(), Exception)


def render(
    meshes: Sequence[Mesh],
    K: Sequence[float],
    world2cam: np.ndarray | None,
    width: int,
    height: int,
    backend: Backend = "auto",
) -> RenderOutput:
    """Render meshes with a pinhole camera.

    Args:
        meshes: meshes with colours and object ids.
        K: (fx, fy, cx, cy) in pixels, OpenCV convention.
        world2cam: (4, 4) world -> camera (OpenCV axes); None if the vertices are already in the camera frame.
        width, height: image size in pixels.
        backend: "egl", "numpy" or "auto".

    Returns:
        RenderOutput with rgb (H, W, 3) uint8, depth (H, W) float32 metres (inf = empty), object_id (H, W) int32.

    Raises:
        ValueError: unknown backend or bad shapes. RuntimeError: backend "egl" requested but unavailable.
    """
    if backend not in ("auto", "egl", "numpy"):
        raise ValueError(f"backend {backend!r} is not one of ['auto', 'egl', 'numpy']")
    fx, fy, cx, cy = (float(k) for k in K)
    scene = prepare(meshes, world2cam)
    if backend in ("auto", "egl"):
        renderer = _egl_renderer()
        if isinstance(renderer, Exception):
            if backend == "egl":
                raise RuntimeError(
                    f"EGL rendering unavailable ({renderer}); install moderngl (pip install 'egohmr[render]') "
                    "and Mesa EGL (libegl1, libgl1-mesa-dri), or use backend='numpy'"
                )
        else:
            return renderer.render(scene, (fx, fy, cx, cy), int(width), int(height))
    from egohmr.render.numpy_renderer import rasterize

    return rasterize(scene, (fx, fy, cx, cy), int(width), int(height))
