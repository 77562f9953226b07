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

from egohmr.render.backend import Backend, egl_available, render
from egohmr.render.scene import Mesh, PreparedScene, RenderOutput, prepare

__all__ = ["Backend", "Mesh", "PreparedScene", "RenderOutput", "egl_available", "prepare", "render"]
