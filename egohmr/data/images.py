"""Reading the RGB images a user names, with a sentence naming the file for anything PIL cannot read."""

from __future__ import annotations

from pathlib import Path

import numpy as np

__all__ = ["read_rgb"]


def read_rgb(path: str | Path, what: str = "image") -> np.ndarray:
    """(H, W, 3) uint8 RGB pixels of an image file.

    Args:
        path: the file. what: how error messages name it (e.g. "npz field 'imgname' row 12").

    Raises:
        FileNotFoundError: no such file. ValueError: empty, not an image, truncated, or a decompression bomb
            (more pixels than PIL's limit), with the file named.
    """
    from PIL import Image, UnidentifiedImageError

    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"{what}: missing image {path}")
    if path.stat().st_size == 0:
        raise ValueError(f"{what}: image {path} is empty (0 bytes)")
    try:
        with Image.open(path) as im:
            return np.asarray(im.convert("RGB"))
    except Image.DecompressionBombError as err:
        raise ValueError(f"{what}: image {path} refused as a decompression bomb ({err})") from None
    except (UnidentifiedImageError, OSError, SyntaxError) as err:
        raise ValueError(f"{what}: {path} is not a readable image ({type(err).__name__}: {err})") from None
