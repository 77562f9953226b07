"""Colours shared by every output (overlays, the 3D scene view, .glb files and the browser viewer).

GT is green, the mode sample (index 0) red, the other samples blue-ish hues that stay distinct from each other.
The wearer's PV camera marker is yellow. Colours are (3,) uint8 RGB.
"""

from __future__ import annotations

import colorsys

import numpy as np

__all__ = ["CAMERA_RGB", "GT_RGB", "MODE_RGB", "SCENE_RGB", "sample_rgb"]

GT_RGB = np.array([60, 200, 80], np.uint8)
MODE_RGB = np.array([230, 60, 50], np.uint8)
SCENE_RGB = np.array([170, 170, 170], np.uint8)
CAMERA_RGB = np.array([250, 200, 20], np.uint8)  # the wearer's PV camera marker
_SAMPLE_HUES = (0.58, 0.75, 0.50, 0.67, 0.83, 0.54, 0.71, 0.62)  # blue, violet, cyan, indigo, purple, ...


def sample_rgb(index: int) -> np.ndarray:
    """Colour of sample `index`: red for the mode (0), then blue-ish hues cycling with varying lightness.

    Args:
        index: sample index >= 0 (0 is the mode sample).

    Returns:
        (3,) uint8 RGB.
    """
    if index < 0:
        raise ValueError(f"sample index must be >= 0, got {index}")
    if index == 0:
        return MODE_RGB.copy()
    k = index - 1
    hue = _SAMPLE_HUES[k % len(_SAMPLE_HUES)]
    light = (0.55, 0.42, 0.68)[(k // len(_SAMPLE_HUES)) % 3]
    r, g, b = colorsys.hls_to_rgb(hue, light, 0.75)
    return np.array([round(255 * r), round(255 * g), round(255 * b)], np.uint8)
