"""Writing synthetic assets: scene OBJ meshes, JPEG frames and the clothing colours of the interactee."""

from __future__ import annotations

import io
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


def write_obj(path: str | Path, vertices: np.ndarray, faces: np.ndarray, colors: np.ndarray | None = None) -> None:
    """Write a triangle mesh as OBJ (``v x y z [r g b]``, 1-based ``f``), 6 decimals, deterministic bytes."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    buf = io.StringIO()
    buf.write("# egohmr synthetic scene mesh, y-up scene frame, metres\n")
    if colors is None:
        np.savetxt(buf, vertices, fmt="v %.6f %.6f %.6f")
    else:
        np.savetxt(buf, np.concatenate([vertices, colors], axis=1), fmt="v %.6f %.6f %.6f %.4f %.4f %.4f")
    np.savetxt(buf, np.asarray(faces, np.int64) + 1, fmt="f %d %d %d")
    path.write_text(buf.getvalue())


def read_obj_vertices(path: str | Path) -> np.ndarray:
    """(V, 3) float64 vertex positions of an OBJ file (colours and faces ignored)."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"missing scene mesh {path}")
    rows = [line.split()[1:4] for line in path.read_text().splitlines() if line.startswith("v ")]
    return np.asarray(rows, dtype=np.float64).reshape(-1, 3)


def save_jpeg(path: str | Path, rgb: np.ndarray, quality: int = 90) -> None:
    """Save (H, W, 3) uint8 RGB as JPEG (the official loader reads it with cv2, i.e. as BGR)."""
    from PIL import Image

    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(rgb).save(path, format="JPEG", quality=quality)
