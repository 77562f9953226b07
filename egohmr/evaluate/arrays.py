"""Array conversion for the metric functions: numpy or torch in, float64 numpy out."""

from __future__ import annotations

from typing import Any, Union

import numpy as np

ArrayLike = Union[np.ndarray, "Any"]  # numpy array, torch tensor, or nested sequences of numbers


def to_numpy(x: ArrayLike, dtype: type = np.float64) -> np.ndarray:
    """Convert a numpy array, torch tensor (any device, with or without grad) or sequence to a numpy array.

    Args:
        x: the input array.
        dtype: dtype of the result (float64 by default, so metrics are computed in double precision).

    Returns:
        numpy array with the same shape.
    """
    if hasattr(x, "detach") and hasattr(x, "cpu"):
        x = x.detach().cpu().numpy()
    return np.asarray(x, dtype=dtype)
