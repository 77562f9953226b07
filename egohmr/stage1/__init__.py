"""Stage 1 "ProHMR-scene" (reference-egohmr.md section 2; docs/stage1.md).

The same face as `egohmr.stage2`:

- `config`: `Stage1Config` (model, loss weights, data, train; validated when built), the `official` / `cpu` presets,
  `load_stage1_config`.
- `model`: `ProHMRScene` (backbone + ResNet-PointNet + conditional flow + head) with its training and validation
  steps, `Stage1Output`, `build_context`.
- `checkpoint`: `load(path) -> (model, cfg)` for our, shipped and official files; `export`; the official-weight and
  ProHMR-backbone importers.
- `train`: `train(cfg) -> TrainResult`.
- `evaluation`: `evaluate(loaded, run) -> Stage1TestResult` (metrics, mean baseline, results.pkl for stage 2).

Helpers: `losses` (loss terms as pure functions), `discriminator` (HMR pose discriminator, mocap reader, the adversarial
prior's update), `data` (stage-1 items, input checks), `baseline` (the mean-pose / mean-translation baseline).
"""
