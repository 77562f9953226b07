"""Inference glue: the `EgoHMRPipeline` API used by `egohmr demo` / `egohmr infer` (docs/demo.md).

Modules: `checkpoints` (shipped inference files: export and the one loader), `inputs` (checks, crop, scene points,
visibility), `core` (`EgoHMRPipeline`, `EgoHMRResult`).
"""
