"""Official-format SMPL ``.pkl`` files for tests: arrays wrapped in chumpy-style objects, a sparse regressor."""

from __future__ import annotations

import pickle
import sys
import types
from pathlib import Path

import numpy as np
import scipy.sparse


def write_chumpy_style_pickle(path: Path, arrays: dict, protocol: int) -> None:
    """Write an SMPL-like pickle whose arrays are wrapped in a fake ``chumpy.ch.Ch`` (removed afterwards)."""
    chumpy = types.ModuleType("chumpy")
    ch_module = types.ModuleType("chumpy.ch")

    class Ch:  # mimics chumpy: the wrapped array lives in the instance dict under "x"
        def __init__(self, x):
            self.x = x
            self._cache = {"unrelated": 1}

    Ch.__module__ = "chumpy.ch"
    Ch.__qualname__ = "Ch"
    ch_module.Ch = Ch
    chumpy.ch = ch_module
    saved = {name: sys.modules.get(name) for name in ("chumpy", "chumpy.ch")}
    sys.modules["chumpy"], sys.modules["chumpy.ch"] = chumpy, ch_module
    try:
        data = dict(arrays)
        for key in ("v_template", "shapedirs", "posedirs", "weights"):
            data[key] = Ch(arrays[key].astype(np.float64))
        data["J_regressor"] = scipy.sparse.csc_matrix(arrays["J_regressor"].astype(np.float64))
        data["bs_style"] = "lbs"
        data["pose_training_info"] = {"number_of_subjects": 1}
        del data["landmark_vertex_ids"]
        data["landmark_vertex_ids"] = arrays["landmark_vertex_ids"]
        with path.open("wb") as handle:
            pickle.dump(data, handle, protocol=protocol)
    finally:
        for name, module in saved.items():
            if module is None:
                sys.modules.pop(name, None)
            else:
                sys.modules[name] = module
