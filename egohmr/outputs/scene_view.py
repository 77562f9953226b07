"""A render of a frame "in the 3D scene": scene crop + bodies seen from a virtual camera behind and above the wearer.

The scene points are drawn with numpy as depth-tested square splats (a few pixels wide), a scene mesh (when the
record has one) and the bodies with `egohmr.render`, and everything is composited by depth. The wearer's PV camera is
drawn as a small yellow pyramid at the PV origin, pointing along its optical axis.

All geometry stays in the PV frame (OpenCV axes); the virtual camera is a PV-frame pose. "Up" is taken as -y of the
PV camera, i.e. the wearer's head is assumed roughly level.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Literal

import numpy as np

from egohmr.outputs.frame_record import FrameRecord
from egohmr.outputs.overlay import MODE_ALPHA, SAMPLES_ALPHA, composite_bodies
from egohmr.outputs.palette import CAMERA_RGB, GT_RGB, SCENE_RGB, sample_rgb
from egohmr.render import Backend, Mesh, render

__all__ = ["camera_marker_pv", "draw_points", "look_at_world2cam", "render_scene_view", "scene_view_camera"]

UP_PV = np.array([0.0, -1.0, 0.0])
BACKGROUND_RGB = (245, 245, 245)


def look_at_world2cam(eye: np.ndarray, target: np.ndarray, up: np.ndarray = UP_PV) -> np.ndarray:
    """World -> camera (OpenCV axes: x right, y down, z towards `target`) for a camera at `eye`.

    Args:
        eye: (3,) camera centre, metres, world frame (here: the PV frame).
        target: (3,) point the optical axis goes through.
        up: (3,) world "up" direction (image up = -y of the camera).

    Returns:
        (4, 4) float64 world2cam, acting on column vectors.

    Raises:
        ValueError: `eye` equals `target`, or the view direction is parallel to `up`.
    """
    eye, target, up = (np.asarray(a, np.float64) for a in (eye, target, up))
    z = target - eye
    if np.linalg.norm(z) < 1e-9:
        raise ValueError("look_at_world2cam: eye and target coincide")
    z /= np.linalg.norm(z)
    y = -up - np.dot(-up, z) * z
    if np.linalg.norm(y) < 1e-6:
        raise ValueError("look_at_world2cam: view direction is parallel to up")
    y /= np.linalg.norm(y)
    x = np.cross(y, z)
    R = np.stack([x, y, z])  # rows: camera axes in world coordinates
    T = np.eye(4)
    T[:3, :3] = R
    T[:3, 3] = -R @ eye
    return T


def scene_view_camera(
    target_pv: np.ndarray, width: int, height: int, fov_deg: float = 60.0
) -> tuple[tuple[float, float, float, float], np.ndarray]:
    """A virtual camera behind and above the wearer (at the PV origin) looking at the body and the wearer.

    Args:
        target_pv: (3,) body centre, metres, PV frame.
        width, height: image size, pixels.
        fov_deg: horizontal field of view, degrees.

    Returns:
        (intrinsics (fx, fy, cx, cy) px, world2cam (4, 4) from the PV frame).
    """
    target = np.asarray(target_pv, np.float64)
    dist = float(np.linalg.norm(target))
    forward = target - np.dot(target, UP_PV) * UP_PV  # horizontal direction from the wearer to the body
    if np.linalg.norm(forward) < 1e-6:
        forward = np.array([0.0, 0.0, 1.0])
    forward /= np.linalg.norm(forward)
    eye = -forward * (0.6 + 0.5 * dist) + UP_PV * (0.7 + 0.5 * dist)
    look = 0.7 * target  # between the wearer and the body, so both are in view
    f = 0.5 * width / math.tan(math.radians(fov_deg) / 2)
    K = (f, f, (width - 1) / 2, (height - 1) / 2)
    return K, look_at_world2cam(eye, look)


def draw_points(
    points_world: np.ndarray,
    colors: np.ndarray,
    intrinsics_px: Sequence[float],
    world2cam: np.ndarray,
    width: int,
    height: int,
    radius_px: int = 1,
    near: float = 0.05,
) -> tuple[np.ndarray, np.ndarray]:
    """Depth-tested square splats of side ``2 * radius_px + 1`` pixels.

    Args:
        points_world: (P, 3) float, metres.
        colors: (P, 3) uint8.
        intrinsics_px: (fx, fy, cx, cy).
        world2cam: (4, 4).
        width, height: image size.
        radius_px: splat half-size in pixels.
        near: points closer than this (camera z, metres) are dropped.

    Returns:
        (rgb (H, W, 3) uint8 with black where empty, depth (H, W) float32 metres, inf where empty).
    """
    fx, fy, cx, cy = (float(k) for k in intrinsics_px)
    W, H = int(width), int(height)
    depth = np.full(H * W, np.inf, np.float32)
    rgb = np.zeros((H * W, 3), np.uint8)
    p = np.asarray(points_world, np.float64)
    if len(p) == 0:
        return rgb.reshape(H, W, 3), depth.reshape(H, W)
    pc = p @ world2cam[:3, :3].T + world2cam[:3, 3]  # (P, 3) camera frame
    keep = pc[:, 2] > near
    pc, col = pc[keep], np.asarray(colors, np.uint8)[keep]
    u = np.rint(fx * pc[:, 0] / pc[:, 2] + cx).astype(np.int64)
    v = np.rint(fy * pc[:, 1] / pc[:, 2] + cy).astype(np.int64)
    z = pc[:, 2].astype(np.float32)
    offsets = range(-radius_px, radius_px + 1)
    uu = np.concatenate([u + dx for dy in offsets for dx in offsets])
    vv = np.concatenate([v + dy for dy in offsets for dx in offsets])
    zz = np.tile(z, len(offsets) ** 2)
    cc = np.tile(col, (len(offsets) ** 2, 1))
    inside = (uu >= 0) & (uu < W) & (vv >= 0) & (vv < H)
    pix, zz, cc = vv[inside] * W + uu[inside], zz[inside], cc[inside]
    order = np.lexsort((zz, pix))  # per pixel, nearest first
    pix, zz, cc = pix[order], zz[order], cc[order]
    first = np.ones(len(pix), bool)
    first[1:] = pix[1:] != pix[:-1]
    depth[pix[first]] = zz[first]
    rgb[pix[first]] = cc[first]
    return rgb.reshape(H, W, 3), depth.reshape(H, W)


def _point_colors(record: FrameRecord) -> np.ndarray:
    """Scene point colours: the record's, else grey shaded by height (higher = lighter)."""
    if record.scene_colors is not None:
        return record.scene_colors
    p = record.scene_points_pv
    if len(p) == 0:
        return np.zeros((0, 3), np.uint8)
    h = p @ UP_PV
    t = (h - h.min()) / max(float(np.ptp(h)), 1e-6)
    return np.clip(SCENE_RGB[None] * (0.55 + 0.45 * t[:, None]), 0, 255).astype(np.uint8)


def camera_marker_pv(size: float = 0.12) -> tuple[np.ndarray, np.ndarray]:
    """A pyramid at the PV origin pointing along +z: (5, 3) vertices (PV frame) and (6, 3) faces."""
    a, d = 0.6 * size, size
    v = np.array([[0, 0, 0], [-a, -a * 0.6, d], [a, -a * 0.6, d], [a, a * 0.6, d], [-a, a * 0.6, d]], np.float64)
    f = np.array([[0, 1, 2], [0, 2, 3], [0, 3, 4], [0, 4, 1], [1, 3, 2], [1, 4, 3]])
    return v, f


def render_scene_view(
    record: FrameRecord,
    width: int = 960,
    height: int = 540,
    samples: Literal["mode", "all"] = "all",
    show_gt: bool = True,
    backend: Backend = "auto",
    point_radius_px: int = 1,
    camera: tuple[Sequence[float], np.ndarray] | None = None,
) -> np.ndarray:
    """Render the frame in its 3D scene from behind and above the wearer (or from a given camera).

    Args:
        record: the frame (scene crop, bodies, all PV frame).
        width, height: output size in pixels.
        samples: "mode" (the mode sample only, opaque-ish red) or "all" (every sample, semi-transparent).
        show_gt: draw the GT body (green) when known.
        backend: renderer backend for the bodies and the scene mesh.
        point_radius_px: scene point splat half-size.
        camera: optional ``(intrinsics (fx, fy, cx, cy) px for width x height, pv2cam (4, 4))``, e.g. the EgoBody
            Kinect master camera as in the official scene view (``pv2cam`` = world2kinect @ pv2world); default
            `scene_view_camera`.

    Returns:
        (height, width, 3) uint8.
    """
    if samples not in ("mode", "all"):
        raise ValueError(f"samples must be 'mode' or 'all', got {samples!r}")
    preds = record.pred_vertices_pv
    centre_body = record.gt_vertices_pv if record.gt_vertices_pv is not None else preds[0]
    pts = record.scene_points_pv
    if camera is None:
        K, world2cam = scene_view_camera(centre_body.mean(axis=0), width, height)
    else:
        K, world2cam = tuple(float(k) for k in camera[0]), np.asarray(camera[1], np.float64)
        if len(K) != 4 or world2cam.shape != (4, 4):
            raise ValueError(
                f"camera must be ((fx, fy, cx, cy), (4, 4) pv2cam), got {len(K)} values, {world2cam.shape}"
            )
    eye_pv = -world2cam[:3, :3].T @ world2cam[:3, 3]  # virtual camera centre, PV frame
    # Our own camera: drop points above the eye (a ceiling would hide everything).
    below = (pts @ UP_PV) < (eye_pv @ UP_PV) - 0.1 if camera is None else np.ones(len(pts), bool)
    bg_rgb, bg_depth = draw_points(
        pts[below], _point_colors(record)[below], K, world2cam, width, height, point_radius_px
    )
    # The wearer's camera marker, unless the view is from (next to) the PV camera itself.
    static = [Mesh(*camera_marker_pv(), CAMERA_RGB, object_id=1)] if np.linalg.norm(eye_pv) > 0.3 else []
    if record.scene_mesh_vertices_pv is not None:
        static.append(Mesh(record.scene_mesh_vertices_pv, record.scene_mesh_faces, SCENE_RGB, object_id=2))
    mesh_out = render(static, K, world2cam, width, height, backend)
    use_mesh = mesh_out.depth < bg_depth
    bg_depth = np.where(use_mesh, mesh_out.depth, bg_depth)
    image = np.where(use_mesh[..., None], mesh_out.rgb, bg_rgb)
    image = np.where(np.isfinite(bg_depth)[..., None], image, np.array(BACKGROUND_RGB, np.uint8))

    bodies, colors, alphas = [], [], []
    count = 1 if samples == "mode" else len(preds)
    for i in range(count):
        bodies.append(preds[i])
        colors.append(sample_rgb(i))
        alphas.append(MODE_ALPHA if samples == "mode" else SAMPLES_ALPHA)
    if show_gt and record.gt_vertices_pv is not None:
        bodies.append(record.gt_vertices_pv)
        colors.append(GT_RGB)
        alphas.append(MODE_ALPHA)
    rgbs, depths = [], []
    for verts, color in zip(bodies, colors, strict=True):
        out = render([Mesh(verts, record.faces, color)], K, world2cam, width, height, backend)
        rgbs.append(out.rgb)
        depths.append(out.depth)
    return composite_bodies(image.astype(np.uint8), bg_depth, rgbs, depths, alphas)
