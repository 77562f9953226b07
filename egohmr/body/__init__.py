"""Body-model layer: SMPL-format linear blend skinning, the BodyModel module and file loading.

Real SMPL files and the packaged open body are interchangeable::

    from egohmr.body import load_body_model
    body = load_body_model("open", gender="neutral")      # or load_body_model("data/smpl", "male")
    out = body(betas, global_orient_rotmat, body_pose_rotmat, transl)
    out.vertices, out.joints, out.landmarks, out.openpose25()
"""

from egohmr.body.io import load_body_arrays, load_body_model, resolve_body_path, save_body_model_npz
from egohmr.body.lbs import linear_blend_skinning
from egohmr.body.model import BodyModel, BodyOutput

__all__ = [
    "BodyModel",
    "BodyOutput",
    "linear_blend_skinning",
    "load_body_arrays",
    "load_body_model",
    "resolve_body_path",
    "save_body_model_npz",
]
