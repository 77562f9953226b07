"""Writing synthetic assets: scene OBJ meshes, JPEG frames and the clothing colours of the interactee."""

from __future__ import annotations

from pathlib import Path

import numpy as np

# Clothing regions by the joint that dominates a vertex's skinning weights (SMPL joint indices).
_HEAD_HANDS = (12, 15, 22, 23)
_FOREARMS = (18, 19, 20, 21)
_LEGS = (1, 2, 4, 5)
_FEET = (7, 8, 10, 11)
SKIN_TONES = ((0.87, 0.70, 0.58), (0.76, 0.57, 0.45), (0.55, 0.38, 0.28), (0.93, 0.78, 0.67))
SHIRTS = (
    (0.80, 0.15, 0.15),
    (0.15, 0.35, 0.75),
    (0.20, 0.60, 0.30),
    (0.90, 0.80, 0.20),
    (0.92, 0.92, 0.92),
    (0.25, 0.25, 0.28),
)
TROUSERS = ((0.15, 0.18, 0.35), (0.25, 0.25, 0.25), (0.45, 0.38, 0.28), (0.10, 0.10, 0.12), (0.40, 0.45, 0.55))
SHOES = ((0.08, 0.08, 0.08), (0.85, 0.85, 0.85), (0.40, 0.25, 0.15))


def body_vertex_colors(lbs_weights: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Random outfit: skin, shirt (short or long sleeves), trousers and shoes by dominant skinning joint.

    Args:
        lbs_weights: (V, 24) float skinning weights. rng: numpy Generator.

    Returns:
        (V, 3) float32 colours in [0, 1].
    """
    dominant = np.asarray(lbs_weights).argmax(axis=1)
    skin = np.array(SKIN_TONES[rng.integers(len(SKIN_TONES))])
    shirt = np.array(SHIRTS[rng.integers(len(SHIRTS))])
    trousers = np.array(TROUSERS[rng.integers(len(TROUSERS))])
    shoes = np.array(SHOES[rng.integers(len(SHOES))])
    short_sleeves = rng.uniform() < 0.5
    colors = np.repeat(shirt[None], len(dominant), axis=0)
    colors[np.isin(dominant, _LEGS) | (dominant == 0)] = trousers
    colors[np.isin(dominant, _FEET)] = shoes
    colors[np.isin(dominant, _HEAD_HANDS)] = skin
    if short_sleeves:
        colors[np.isin(dominant, _FOREARMS)] = skin
    return colors.astype(np.float32)


def _format_rows(fmt: str, rows: np.ndarray) -> str:
    """``fmt`` (one row, ending in a newline) applied to every row of `rows` (N, C) in one formatting call."""
    return (fmt * len(rows)) % tuple(rows.ravel().tolist())


def write_obj(path: str | Path, vertices: np.ndarray, faces: np.ndarray, colors: np.ndarray | None = None) -> None:
    """Write a triangle mesh as OBJ (``v x y z [r g b]``, 1-based ``f``), 6 decimals, deterministic bytes."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    header = "# egohmr synthetic scene mesh, y-up scene frame, metres\n"
    if colors is None:
        v = _format_rows("v %.6f %.6f %.6f\n", np.asarray(vertices, np.float64))
    else:
        rows = np.concatenate([vertices, colors], axis=1).astype(np.float64)
        v = _format_rows("v %.6f %.6f %.6f %.4f %.4f %.4f\n", rows)
    f = _format_rows("f %d %d %d\n", np.asarray(faces, np.int64) + 1)
    path.write_text(header + v + f)


def tessellate(
    vertices: np.ndarray, faces: np.ndarray, colors: np.ndarray | None, max_edge_m: float
) -> tuple[np.ndarray, np.ndarray, np.ndarray | None]:
    """Split every triangle into a regular grid so that no edge is longer than `max_edge_m`.

    EgoBody's scene meshes are dense scans, and the scene preprocessing samples their *vertices*; our procedural rooms
    are a few hundred large triangles, so they are written densely. Each triangle with longest edge L becomes
    n^2 triangles (n = ceil(L / max_edge_m)) on its own (n+1)(n+2)/2 grid vertices (shared edges are duplicated:
    harmless for point sampling and for rendering).

    Args:
        vertices: (V, 3) float, metres. faces: (F, 3) int. colors: (V, 3) or None, interpolated.
        max_edge_m: target longest edge, metres.

    Returns:
        (vertices (V', 3), faces (F', 3), colors (V', 3) or None).
    """
    vertices = np.asarray(vertices, np.float64)
    faces = np.asarray(faces, np.int64)
    corners = vertices[faces]  # (F, 3, 3)
    longest = np.linalg.norm(corners - np.roll(corners, 1, axis=1), axis=-1).max(axis=1)  # (F,)
    steps = np.maximum(np.ceil(longest / max_edge_m).astype(np.int64), 1)
    out_v, out_f, out_c, offset = [], [], [], 0
    for n in np.unique(steps):
        ids = np.nonzero(steps == n)[0]
        # Barycentric grid (i, j) with i + j <= n, and its triangles, shared by every triangle split n times.
        i, j = np.nonzero(np.add.outer(np.arange(n + 1), np.arange(n + 1)) <= n)
        bary = np.stack([n - i - j, i, j], axis=1) / n  # (G, 3)
        slot = -np.ones((n + 1, n + 1), np.int64)
        slot[i, j] = np.arange(len(i))
        tris = []
        for a in range(n):
            for b in range(n - a):
                tris.append((slot[a, b], slot[a + 1, b], slot[a, b + 1]))
                if a + b + 1 < n:
                    tris.append((slot[a + 1, b], slot[a + 1, b + 1], slot[a, b + 1]))
        tris = np.asarray(tris, np.int64)  # (n^2, 3)
        out_v.append(np.einsum("gk,fkd->fgd", bary, corners[ids]).reshape(-1, 3))
        if colors is not None:
            out_c.append(np.einsum("gk,fkd->fgd", bary, np.asarray(colors)[faces[ids]]).reshape(-1, 3))
        out_f.append((tris[None] + (offset + len(bary) * np.arange(len(ids)))[:, None, None]).reshape(-1, 3))
        offset += len(bary) * len(ids)
    new_colors = np.concatenate(out_c).astype(np.float32) if colors is not None else None
    return np.concatenate(out_v), np.concatenate(out_f), new_colors


def save_jpeg(path: str | Path, rgb: np.ndarray, quality: int = 90) -> None:
    """Save (H, W, 3) uint8 RGB as JPEG (the official loader reads it with cv2, i.e. as BGR)."""
    from PIL import Image

    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(rgb).save(path, format="JPEG", quality=quality)
