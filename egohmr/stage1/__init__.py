"""Stage 1 "ProHMR-scene" (reference-egohmr.md section 2; docs/stage1.md).

Modules, one job each:

- `config`: `Stage1Config` (model, loss weights, data, train) and the `official` / `cpu` presets.
- `model`: `ProHMRScene` (backbone + ResNet-PointNet + conditional flow + head), `Stage1Output`, `build_context`.
- `losses`: the loss terms as pure functions and their weighted combination.
- `objective`: training / validation steps, ActNorm initialisation, the optional adversarial prior's update.
- `discriminator`: the HMR pose discriminator and the CMU mocap reader.
- `data`: stage-1 items (scene-point subsets, cached image features), input checks.
- `features`: cached image features of a frozen backbone.
- `checkpoint_import`: our checkpoints, the official stage-1 file, ProHMR backbone initialisation.
- `train`: `train_stage1(cfg)`; `test`: `test_stage1(...)`; `baseline`: the mean-pose / mean-translation baseline.
"""
