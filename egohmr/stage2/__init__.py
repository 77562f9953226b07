"""Stage 2 "EgoHMR": scene-conditioned pose diffusion (docs/stage2.md).

The same face as `egohmr.stage1`:

- `config`: `Stage2Config` (validated when built), the presets ``official`` / ``cpu``, `load_stage2_config`;
  `Stage2TestConfig` is the one home of the sampling settings.
- `model`: `EgoHMRModel` (networks, x0 statistics, training and validation steps).
- `checkpoint`: `load(path) -> (model, cfg)` for our, shipped and official files; `export`; the official importer.
- `train`: `train(cfg) -> TrainResult` (datasets, pose statistics, feature cache, the shared engine).
- `evaluation`: `evaluate(loaded, run, settings) -> Stage2TestResult` (sharded sampling, results files, metrics).

Helpers: `losses` (one function per loss weight), `pipeline` (sampling S poses per image, fast or reference).
"""
