"""Inference glue: the `EgoHMRPipeline` API used by `egohmr demo` / `egohmr infer` (docs/demo.md).

Modules: `checkpoints` (shipped inference files: export and the one loader), `inputs` (checks, crop, scene points,
visibility), `sampling` (the demo preset of `Stage2TestConfig` and user overrides), `core` (`EgoHMRPipeline`,
`EgoHMRResult`), `sequence` (a recording frame by frame, `run_sequence`), `domain` (what the checkpoints were trained
on), `records` (results -> output records and npz), `demo` (`run_demo`: synthesise, predict, evaluate, write
outputs).
"""
