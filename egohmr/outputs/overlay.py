"""Body overlays on the egocentric image: the mode sample, all samples, the GT, and a side-by-side strip.

Bodies are rendered with `egohmr.render` (EGL when available, the numpy rasteriser otherwise) in the PV camera
(OpenCV axes, the frame's intrinsics scaled to the panel size), shaded, and alpha-blended onto the image. Overlapping
semi-transparent bodies are blended per pixel from far to near.

The strip (`overlay_strip`) is ``[input (+ box) | mode sample | all samples | GT]``, the GT panel only when the GT is
known, each panel at most `max_panel_width` pixels wide.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from egohmr.outputs.frame_record import FrameRecord
from egohmr.outputs.palette import GT_RGB, sample_rgb
from egohmr.render import Backend, Mesh, render

__all__ = [
    "OverlayPanels",
    "composite_bodies",
    "draw_box",
    "label_panel",
    "overlay_panels",
    "overlay_strip",
    "render_overlay",
    "resize_image",
    "scale_intrinsics",
]

MODE_ALPHA = 0.8
SAMPLES_ALPHA = 0.5
BOX_RGB = (255, 210, 0)


def scale_intrinsics(intrinsics_px: Sequence[float], scale: float) -> tuple[float, float, float, float]:
    """Intrinsics of the image resized by `scale` (OpenCV pixel centres: ``c' = (c + 0.5) s - 0.5``)."""
    fx, fy, cx, cy = (float(k) for k in intrinsics_px)
    return fx * scale, fy * scale, (cx + 0.5) * scale - 0.5, (cy + 0.5) * scale - 0.5


def resize_image(image: np.ndarray, max_width: int) -> tuple[np.ndarray, float]:
    """Shrink `image` (H, W, 3) uint8 to at most `max_width` pixels wide (never enlarges).

    Returns:
        (resized image, scale factor new/old).
    """
    h, w = image.shape[:2]
    if max_width < 1:
        raise ValueError(f"max_width must be >= 1, got {max_width}")
    if w <= max_width:
        return image, 1.0
    scale = max_width / w
    from PIL import Image

    size = (max_width, max(1, round(h * scale)))
    small = np.asarray(Image.fromarray(image).resize(size, Image.Resampling.LANCZOS))
    return small, size[0] / w


def composite_bodies(
    background: np.ndarray,
    background_depth: np.ndarray | None,
    body_rgb: Sequence[np.ndarray],
    body_depth: Sequence[np.ndarray],
    alphas: Sequence[float],
) -> np.ndarray:
    """Alpha-blend rendered bodies onto a background, per pixel from the farthest body to the nearest.

    Args:
        background: (H, W, 3) uint8.
        background_depth: (H, W) float metres of the background surface (inf = empty), or None (an image: bodies
            are always in front).
        body_rgb: per body (H, W, 3) uint8 rendered colours.
        body_depth: per body (H, W) float metres (inf where the body is not drawn).
        alphas: per body opacity in [0, 1].

    Returns:
        (H, W, 3) uint8.
    """
    if not body_rgb:
        return background.copy()
    depth = np.stack([np.asarray(d, np.float32) for d in body_depth])  # (N, H, W)
    if background_depth is not None:
        depth = np.where(depth < background_depth[None], depth, np.inf)
    drawn = np.isfinite(depth).any(axis=0)  # (H, W)
    result = background.copy()
    if not drawn.any():
        return result
    rows, cols = np.nonzero(drawn.any(axis=1))[0], np.nonzero(drawn.any(axis=0))[0]
    win = (slice(rows[0], rows[-1] + 1), slice(cols[0], cols[-1] + 1))  # only the window the bodies cover
    depth = depth[:, win[0], win[1]]  # (N, h, w)
    rgb = np.stack([np.asarray(c)[win] for c in body_rgb]).astype(np.float32)  # (N, h, w, 3)
    alpha = np.asarray(alphas, np.float32)[:, None, None] * np.isfinite(depth)  # (N, h, w)
    order = np.argsort(-np.where(np.isfinite(depth), depth, -1.0), axis=0, kind="stable")  # far first; empty last
    out = background[win].astype(np.float32)
    for k in range(len(body_rgb)):
        idx = order[k][None]  # (1, h, w)
        a = np.take_along_axis(alpha, idx, axis=0)[0][..., None]  # (h, w, 1)
        c = np.take_along_axis(rgb, idx[..., None], axis=0)[0]  # (h, w, 3)
        out = out * (1.0 - a) + c * a
    result[win] = np.clip(np.rint(out), 0, 255).astype(np.uint8)
    return result


def _render_bodies(
    bodies_pv: Sequence[np.ndarray],
    faces: np.ndarray,
    colors: Sequence[np.ndarray],
    intrinsics_px: Sequence[float],
    world2cam: np.ndarray | None,
    width: int,
    height: int,
    backend: Backend,
) -> tuple[list[np.ndarray], list[np.ndarray]]:
    """Render each body on its own: lists of (H, W, 3) uint8 colours and (H, W) float32 depths."""
    rgbs, depths = [], []
    for verts, color in zip(bodies_pv, colors, strict=True):
        out = render(
            [Mesh(verts, faces, np.asarray(color, np.uint8))], intrinsics_px, world2cam, width, height, backend
        )
        rgbs.append(out.rgb)
        depths.append(out.depth)
    return rgbs, depths


def render_overlay(
    image: np.ndarray,
    intrinsics_px: Sequence[float],
    bodies_pv: Sequence[np.ndarray],
    faces: np.ndarray,
    colors: Sequence[np.ndarray],
    alpha: float,
    backend: Backend = "auto",
) -> np.ndarray:
    """Render bodies in the image's camera and blend them onto the image.

    Args:
        image: (H, W, 3) uint8, the image the intrinsics belong to.
        intrinsics_px: (fx, fy, cx, cy) of `image`, pixels.
        bodies_pv: per body (V, 3) float vertices, metres, PV frame.
        faces: (F, 3) int.
        colors: per body (3,) uint8 RGB.
        alpha: opacity of every body in [0, 1].
        backend: renderer backend ("auto", "egl", "numpy").

    Returns:
        (H, W, 3) uint8.
    """
    if not 0.0 <= alpha <= 1.0:
        raise ValueError(f"alpha must be in [0, 1], got {alpha}")
    h, w = image.shape[:2]
    rgbs, depths = _render_bodies(bodies_pv, faces, colors, intrinsics_px, None, w, h, backend)
    return composite_bodies(image, None, rgbs, depths, [alpha] * len(rgbs))


def draw_box(image: np.ndarray, bbox_px: Sequence[float], color: Sequence[int] = BOX_RGB, width: int = 2) -> np.ndarray:
    """A copy of `image` with the box (x1, y1, x2, y2) pixels drawn as a rectangle outline."""
    from PIL import Image, ImageDraw

    pil = Image.fromarray(image)
    x1, y1, x2, y2 = (float(b) for b in bbox_px)
    ImageDraw.Draw(pil).rectangle((x1, y1, x2, y2), outline=tuple(int(c) for c in color), width=int(width))
    return np.asarray(pil)


def label_panel(image: np.ndarray, text: str) -> np.ndarray:
    """A copy of `image` with `text` in white on a dark band in the top-left corner."""
    from PIL import Image, ImageDraw

    pil = Image.fromarray(image)
    draw = ImageDraw.Draw(pil)
    x0, y0, x1, y1 = draw.textbbox((4, 3), text)
    draw.rectangle((0, 0, x1 + 4, y1 + 3), fill=(20, 20, 20))
    draw.text((4, 3), text, fill=(255, 255, 255))
    return np.asarray(pil)


@dataclass(frozen=True)
class OverlayPanels:
    """Overlay panels of one frame, all (h, w, 3) uint8 at the same reduced size.

    Attributes:
        input: the input image (with the crop box when requested).
        mode: the mode sample (red).
        all_samples: every sample in its own colour, semi-transparent.
        gt: the GT body (green), or None when the GT is unknown.
        scale: panel size / full image size.
    """

    input: np.ndarray
    mode: np.ndarray
    all_samples: np.ndarray
    gt: np.ndarray | None
    scale: float


def overlay_panels(
    record: FrameRecord,
    image: np.ndarray | None = None,
    backend: Backend = "auto",
    max_panel_width: int = 960,
    draw_bbox: bool = True,
) -> OverlayPanels:
    """Render the overlay panels of a frame.

    Args:
        record: the frame (bodies in the PV frame, intrinsics of the full image).
        image: (H, W, 3) uint8 full image; default `record.load_image()`.
        backend: renderer backend.
        max_panel_width: panels wider than this are shrunk (intrinsics scaled accordingly).
        draw_bbox: draw the body box on the input panel.
    """
    full = record.load_image() if image is None else image
    small, scale = resize_image(full, max_panel_width)
    K = scale_intrinsics(record.intrinsics_px, scale)
    h, w = small.shape[:2]
    preds = record.pred_vertices_pv
    colors = [sample_rgb(i) for i in range(len(preds))]
    rgbs, depths = _render_bodies(list(preds), record.faces, colors, K, None, w, h, backend)
    mode = composite_bodies(small, None, rgbs[:1], depths[:1], [MODE_ALPHA])
    all_samples = composite_bodies(small, None, rgbs, depths, [SAMPLES_ALPHA] * len(rgbs))
    gt = None
    if record.gt_vertices_pv is not None:
        gt = render_overlay(small, K, [record.gt_vertices_pv], record.faces, [GT_RGB], MODE_ALPHA, backend)
    inp = small
    if draw_bbox:
        box = [b * scale for b in record.bbox_px]
        inp = draw_box(small, box, width=max(1, round(2 * w / 960)))
    return OverlayPanels(input=inp, mode=mode, all_samples=all_samples, gt=gt, scale=scale)


def overlay_strip(
    record: FrameRecord,
    image: np.ndarray | None = None,
    backend: Backend = "auto",
    max_panel_width: int = 960,
    draw_bbox: bool = True,
    labels: bool = True,
    gap_px: int = 4,
) -> np.ndarray:
    """The side-by-side strip ``[input | mode | all samples | GT]`` (GT only when known).

    Returns:
        (h, n * w + (n - 1) * gap_px, 3) uint8 with n = 3 or 4 panels, white gaps.
    """
    p = overlay_panels(record, image, backend, max_panel_width, draw_bbox)
    s = record.num_samples
    named: list[tuple[np.ndarray, str]] = [
        (p.input, "input" + (" + box" if draw_bbox else "")),
        (p.mode, "mode sample"),
        (p.all_samples, f"all {s} sample{'s' if s != 1 else ''}"),
    ]
    if p.gt is not None:
        named.append((p.gt, "ground truth"))
    panels = [label_panel(img, text) if labels else img for img, text in named]
    h = panels[0].shape[0]
    gap = np.full((h, gap_px, 3), 255, np.uint8)
    pieces: list[np.ndarray] = []
    for i, panel in enumerate(panels):
        if i:
            pieces.append(gap)
        pieces.append(panel)
    return np.concatenate(pieces, axis=1)
