"""Pure-numpy z-buffer rasteriser: the fallback backend of `egohmr.render` and a cross-check for the EGL one.

Triangles are clipped against the near plane in the camera frame, projected with OpenCV pixel centres (pixel
(u, v) is sampled at its integer coordinates), rasterised with edge functions over their bounding boxes (in chunks
of bounded size, all vectorised) and resolved with a z-buffer on camera z. Depth and colours are interpolated
perspective-correctly (linear in 1/z over the screen), like OpenGL.
"""

from __future__ import annotations

import numpy as np

from egohmr.render.scene import NEAR_M, PreparedScene, RenderOutput

MAX_FRAGMENTS = 4_000_000


def _clip_near(P: np.ndarray, A: np.ndarray, near: float) -> tuple[np.ndarray, np.ndarray]:
    """Clip triangles to z >= near.

    Args:
        P: (M, 3, 3) float64 triangle vertices, camera frame. A: (M, 3, D) float64 vertex attributes.

    Returns:
        (M', 3, 3) vertices and (M', 3, D) attributes of the clipped triangles.
    """
    inside = P[..., 2] >= near  # (M, 3)
    count = inside.sum(axis=1)
    out_P, out_A = [P[count == 3]], [A[count == 3]]

    def lerp(pa, pb, aa, ab):
        t = ((near - pa[:, 2]) / (pb[:, 2] - pa[:, 2]))[:, None]
        return pa + t * (pb - pa), aa + t * (ab - aa)

    # One vertex inside: roll it to position 0, keep (a, a->b, a->c).
    sel = count == 1
    if np.any(sel):
        shift = np.argmax(inside[sel], axis=1)
        idx = (shift[:, None] + np.arange(3)[None]) % 3
        p = np.take_along_axis(P[sel], idx[..., None], axis=1)
        a = np.take_along_axis(A[sel], idx[..., None], axis=1)
        pab, aab = lerp(p[:, 0], p[:, 1], a[:, 0], a[:, 1])
        pac, aac = lerp(p[:, 0], p[:, 2], a[:, 0], a[:, 2])
        out_P.append(np.stack([p[:, 0], pab, pac], axis=1))
        out_A.append(np.stack([a[:, 0], aab, aac], axis=1))
    # Two vertices inside: roll the outside one to position 2, keep the quad (a, b, b->c, a->c) as two triangles.
    sel = count == 2
    if np.any(sel):
        shift = (np.argmin(inside[sel], axis=1) + 1) % 3
        idx = (shift[:, None] + np.arange(3)[None]) % 3
        p = np.take_along_axis(P[sel], idx[..., None], axis=1)
        a = np.take_along_axis(A[sel], idx[..., None], axis=1)
        pbc, abc = lerp(p[:, 1], p[:, 2], a[:, 1], a[:, 2])
        pac, aac = lerp(p[:, 0], p[:, 2], a[:, 0], a[:, 2])
        out_P += [np.stack([p[:, 0], p[:, 1], pbc], axis=1), np.stack([p[:, 0], pbc, pac], axis=1)]
        out_A += [np.stack([a[:, 0], a[:, 1], abc], axis=1), np.stack([a[:, 0], abc, aac], axis=1)]
    return np.concatenate(out_P), np.concatenate(out_A)


def rasterize(
    scene: PreparedScene, K: tuple[float, float, float, float], width: int, height: int, near: float = NEAR_M
) -> RenderOutput:
    """Rasterise a prepared scene; see `egohmr.render.render` for the outputs."""
    fx, fy, cx, cy = K
    W, H = int(width), int(height)
    zbuf = np.full(H * W, np.inf)
    color = np.zeros((H * W, 3))
    obj = np.full(H * W, -1, np.int32)
    if len(scene.faces):
        f = scene.faces.astype(np.int64)
        P = scene.positions_cam.astype(np.float64)[f]  # (M, 3, 3)
        A = np.concatenate([scene.colors, scene.ids[:, None]], axis=1).astype(np.float64)[f]  # (M, 3, 4)
        P, A = _clip_near(P, A, near)
        z = P[..., 2]
        u = fx * P[..., 0] / z + cx  # (M, 3) px
        v = fy * P[..., 1] / z + cy
        x0 = np.clip(np.ceil(u.min(axis=1)), 0, W).astype(np.int64)
        x1 = np.clip(np.floor(u.max(axis=1)), -1, W - 1).astype(np.int64)
        y0 = np.clip(np.ceil(v.min(axis=1)), 0, H).astype(np.int64)
        y1 = np.clip(np.floor(v.max(axis=1)), -1, H - 1).astype(np.int64)
        bw = np.maximum(x1 - x0 + 1, 0)
        bh = np.maximum(y1 - y0 + 1, 0)
        area2 = (u[:, 1] - u[:, 0]) * (v[:, 2] - v[:, 0]) - (u[:, 2] - u[:, 0]) * (v[:, 1] - v[:, 0])
        keep = np.nonzero((bw > 0) & (bh > 0) & (np.abs(area2) > 1e-12))[0]
        counts = (bw * bh)[keep]
        start = 0
        while start < len(keep):
            csum = np.cumsum(counts[start:])
            stop = start + max(1, int(np.searchsorted(csum, MAX_FRAGMENTS, side="right")))
            tri = keep[start:stop]
            n = counts[start:stop]
            rep = np.repeat(np.arange(len(tri)), n)
            local = np.arange(int(n.sum())) - np.repeat(np.cumsum(n) - n, n)
            t = tri[rep]
            px = x0[t] + local % bw[t]
            py = y0[t] + local // bw[t]
            # Screen-space barycentrics from edge functions.
            ut, vt = u[t], v[t]
            w0 = (ut[:, 1] - px) * (vt[:, 2] - py) - (ut[:, 2] - px) * (vt[:, 1] - py)
            w1 = (ut[:, 2] - px) * (vt[:, 0] - py) - (ut[:, 0] - px) * (vt[:, 2] - py)
            w2 = (ut[:, 0] - px) * (vt[:, 1] - py) - (ut[:, 1] - px) * (vt[:, 0] - py)
            a = area2[t]
            l0, l1, l2 = w0 / a, w1 / a, w2 / a
            inside = (l0 >= 0) & (l1 >= 0) & (l2 >= 0)
            l0, l1, l2, t, px, py = l0[inside], l1[inside], l2[inside], t[inside], px[inside], py[inside]
            zt = z[t]
            iz = l0 / zt[:, 0] + l1 / zt[:, 1] + l2 / zt[:, 2]
            depth = 1.0 / iz
            pix = py * W + px
            order = np.lexsort((depth, pix))
            pix, depth = pix[order], depth[order]
            first = np.ones(len(pix), bool)
            first[1:] = pix[1:] != pix[:-1]
            sel = order[first]
            pix, depth = pix[first], depth[first]
            better = depth < zbuf[pix]
            sel, pix, depth = sel[better], pix[better], depth[better]
            zbuf[pix] = depth
            ts = t[sel]
            wts = np.stack([l0[sel], l1[sel], l2[sel]], axis=1) / z[ts] * depth[:, None]  # (n, 3) perspective
            attr = np.einsum("nk,nkd->nd", wts, A[ts])
            color[pix] = attr[:, :3]
            obj[pix] = np.rint(A[ts, 0, 3]).astype(np.int32)
            start = stop
    rgb = np.clip(np.rint(color * 255.0), 0, 255).astype(np.uint8).reshape(H, W, 3)
    return RenderOutput(rgb=rgb, depth=zbuf.astype(np.float32).reshape(H, W), object_id=obj.reshape(H, W))
