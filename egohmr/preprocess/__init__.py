"""Offline scene preprocessing (``egohmr preprocess``) and the helpers its commands share.

* ``scene_s1``: stage-1 scene points in front of the egocentric camera (``pcd_verts_dict`` / ``map_dict`` pickles).
* ``scene_s2``: stage-2 2x2 m scene cubes around the GT body (train/val) or the stage-1 translation (test).
* ``sampling`` (per-frame generators, uniform down-sampling), ``files`` (atomic .npy), ``pool`` (process pool): the
  shared helpers, re-exported here.

Shared rules: outputs are written atomically (temporary file in the same folder, then ``os.replace``), finished
outputs are skipped (resumable) only for the same inputs and parameters (``inputs``: the digests stored in the
``egohmr.jobs`` manifest of the output folder), work is spread over a process pool, and every random draw comes from
a generator derived from ``(seed, image file stem, stream)`` (``sampling``; the same streams as ``egohmr infer``
and ``egohmr test stage2``) so results do not depend on the number of workers or on the order of
work.
"""

from egohmr.files import atomic_save_npy
from egohmr.preprocess.pool import run_tasks
from egohmr.preprocess.sampling import frame_rng, uniform_downsample

__all__ = ["atomic_save_npy", "frame_rng", "run_tasks", "uniform_downsample"]
