"""Image overlays: the body lands where the projection says, colours, strip layout, compositing order."""

from __future__ import annotations

import numpy as np
import pytest

from egohmr.outputs.overlay import composite_bodies, overlay_panels, overlay_strip, resize_image, scale_intrinsics
from egohmr.render import egl_available
from tests.outputs.helpers import HEIGHT, WIDTH, make_record

BACKENDS = ["numpy", pytest.param("egl", marks=pytest.mark.skipif(not egl_available(), reason="no EGL"))]


def _project(verts, K):
    fx, fy, cx, cy = K
    return np.stack([fx * verts[:, 0] / verts[:, 2] + cx, fy * verts[:, 1] / verts[:, 2] + cy], axis=1)


def _changed(before, after):
    return np.any(before != after, axis=2)


@pytest.mark.parametrize("backend", BACKENDS)
def test_mode_overlay_lands_on_the_projected_body(backend):
    rec = make_record(num_samples=3)
    p = overlay_panels(rec, backend=backend, draw_bbox=False)
    assert p.scale == 1.0 and p.mode.shape == (HEIGHT, WIDTH, 3) and p.mode.dtype == np.uint8
    changed = _changed(rec.image, p.mode)
    assert changed.sum() > 500  # not blank
    ys, xs = np.nonzero(changed)
    x1, y1, x2, y2 = rec.bbox_px
    assert xs.min() >= x1 and xs.max() <= x2 and ys.min() >= y1 and ys.max() <= y2  # only inside the box
    centre = _project(rec.pred_vertices_pv[0], rec.intrinsics_px).mean(axis=0)
    assert np.hypot(xs.mean() - centre[0], ys.mean() - centre[1]) < 6.0
    # The mode sample is red, the GT green.
    diff = p.mode[changed].astype(int)
    assert np.mean(diff[:, 0] > diff[:, 2] + 20) > 0.9
    gt = p.gt[_changed(rec.image, p.gt)].astype(int)
    assert np.mean(gt[:, 1] > gt[:, 0] + 20) > 0.9
    # All samples together cover at least the mode's pixels.
    assert np.all(_changed(rec.image, p.all_samples)[changed])


def test_overlay_on_a_resized_image_follows_the_scaled_intrinsics():
    rec = make_record()
    big = np.repeat(np.repeat(rec.image, 4, axis=0), 4, axis=1)  # 1280 x 720
    K4 = tuple(np.array(scale_intrinsics(rec.intrinsics_px, 4.0)))
    kwargs = {k: getattr(rec, k) for k in rec.__dataclass_fields__}
    kwargs.update(image=big, intrinsics_px=K4, bbox_px=tuple(4 * np.array(rec.bbox_px)))
    from egohmr.outputs.frame_record import FrameRecord

    big_rec = FrameRecord(**kwargs)
    p = overlay_panels(big_rec, backend="numpy", max_panel_width=640, draw_bbox=False)
    assert p.scale == pytest.approx(0.5) and p.mode.shape == (360, 640, 3)
    small, _ = resize_image(big, 640)
    ys, xs = np.nonzero(_changed(small, p.mode))
    centre = _project(rec.pred_vertices_pv[0], scale_intrinsics(K4, 0.5)).mean(axis=0)
    assert np.hypot(xs.mean() - centre[0], ys.mean() - centre[1]) < 10.0


def test_strip_layout_and_box():
    rec = make_record(num_samples=2)
    strip = overlay_strip(rec, backend="numpy", gap_px=4)
    assert strip.shape == (HEIGHT, 4 * WIDTH + 3 * 4, 3)
    no_gt = overlay_strip(make_record(num_samples=2, with_gt=False), backend="numpy", gap_px=4)
    assert no_gt.shape == (HEIGHT, 3 * WIDTH + 2 * 4, 3)
    # The input panel shows the yellow box outline at its left edge (below the label band).
    x1, y1, x2, y2 = (round(b) for b in rec.bbox_px)
    yellow = np.all(strip[y1 + 5 : y2 - 5, x1 - 1 : x1 + 2] == [255, 210, 0], axis=2)  # (rows, 3)
    assert np.any(np.all(yellow, axis=0))
    assert not np.any(np.all(strip[y1 + 5 : y2 - 5, x1 + 5 : x2 - 5] == [255, 210, 0], axis=2))  # interior untouched


def test_composite_orders_by_depth():
    bg = np.zeros((2, 2, 3), np.uint8)
    red = np.full((2, 2, 3), [255, 0, 0], np.uint8)
    blue = np.full((2, 2, 3), [0, 0, 255], np.uint8)
    d_near = np.full((2, 2), 1.0, np.float32)
    d_far = np.full((2, 2), 2.0, np.float32)
    d_far[0, 0] = np.inf  # blue absent at (0, 0)
    out = composite_bodies(bg, None, [red, blue], [d_near, d_far], [1.0, 1.0])
    assert np.all(out[1, 1] == [255, 0, 0])  # the near red hides the far blue whatever the list order
    out = composite_bodies(bg, None, [blue, red], [d_far, d_near], [1.0, 1.0])
    assert np.all(out[1, 1] == [255, 0, 0])
    half = composite_bodies(bg, None, [blue], [d_far], [0.5])
    assert np.all(half[0, 0] == 0) and np.all(half[1, 1] == [0, 0, 128])
    # A background surface nearer than the body hides it.
    hidden = composite_bodies(bg, np.full((2, 2), 1.5, np.float32), [blue], [d_far], [1.0])
    assert np.all(hidden == 0)
