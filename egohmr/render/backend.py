"""Backend choice of `render`: moderngl on headless EGL when a context can be created, the numpy rasteriser otherwise.

The EGL renderer is created lazily, once per process (create it after ``fork``, i.e. inside worker processes); a
failure to create it is remembered per process, so "auto" tries EGL once.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Sequence
from typing import Literal

import numpy as np

from egohmr.render.scene import Mesh, RenderOutput, prepare

__all__ = ["Backend", "egl_available", "render"]

logger = logging.getLogger(__name__)
Backend = Literal["auto", "egl", "numpy"]


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
