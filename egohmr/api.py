"""Public Python API of egohmr inference (docs/demo.md)::

from egohmr.api import EgoHMRPipeline
pipe = EgoHMRPipeline.from_pretrained()        # shipped cpu checkpoints; or stage1=PATH, stage2=PATH
result = pipe(image_rgb, (fx, fy, cx, cy), (x1, y1, x2, y2), scene_points_pv, num_samples=5)
"""

from egohmr.pipeline.checkpoints import SHIPPED_STAGE1, SHIPPED_STAGE2, export_inference_checkpoint, load_stage_models
from egohmr.pipeline.core import EgoHMRPipeline, EgoHMRResult, load_scene_points

__all__ = [
    "SHIPPED_STAGE1",
    "SHIPPED_STAGE2",
    "EgoHMRPipeline",
    "EgoHMRResult",
    "export_inference_checkpoint",
    "load_scene_points",
    "load_stage_models",
]
