"""Public Python API of egohmr inference (docs/demo.md)::

from egohmr.api import EgoHMRPipeline
pipe = EgoHMRPipeline.from_pretrained()        # shipped cpu checkpoints; or stage1=PATH, stage2=PATH
result = pipe(image_rgb, (fx, fy, cx, cy), (x1, y1, x2, y2), scene_points_pv, num_samples=5)

Sampling settings are a `Stage2TestConfig` (default: `pipe.default_settings`, the demo preset); `run_demo` runs the
whole demo (synthetic frames -> predictions -> metrics and outputs) from Python.
"""

from egohmr.pipeline.checkpoints import SHIPPED_STAGE1, SHIPPED_STAGE2, export_inference_checkpoint, load_stage_models
from egohmr.pipeline.core import EgoHMRPipeline, EgoHMRResult, load_scene_points
from egohmr.pipeline.demo import DemoResult, DemoSettings, run_demo
from egohmr.pipeline.sampling import SamplingOverrides, demo_preset
from egohmr.stage2.config import Stage2TestConfig

__all__ = [
    "SHIPPED_STAGE1",
    "SHIPPED_STAGE2",
    "DemoResult",
    "DemoSettings",
    "EgoHMRPipeline",
    "EgoHMRResult",
    "SamplingOverrides",
    "Stage2TestConfig",
    "demo_preset",
    "export_inference_checkpoint",
    "load_scene_points",
    "load_stage_models",
    "run_demo",
]
