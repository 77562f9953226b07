"""Stage 2 "EgoHMR": scene-conditioned pose diffusion (docs/stage2.md).

Modules, one job each:

- `config`: `Stage2Config` and the presets ``official`` / ``cpu``.
- `losses`: the geometric training losses (one function per loss weight).
- `model`: `EgoHMRModel` (networks, x0 statistics, training and validation steps), checkpoint loading and the
  official-checkpoint importer.
- `pipeline`: sampling S poses per image, fast (batched, features once) or reference (official computation).
- `train`: `egohmr train stage2` (datasets, feature cache, the shared engine).
- `test`: `egohmr test stage2` (sharded sampling, results files, metrics).
"""
