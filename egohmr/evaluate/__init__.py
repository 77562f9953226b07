"""Evaluation of EgoHMR predictions: metrics, aggregation, results files and reports.

Modules, one job each:

- `settings`: `EvalSettings` (mode `corrected`/`official`, image size, thresholds).
- `arrays`: numpy/torch input conversion.
- `visibility`: in-image visibility of GT joints/vertices (the metric split vis/invis).
- `metrics`: per-element errors, Procrustes errors, diversity, best-of-N, collision and contact (pure functions).
- `inside`: pluggable point-inside-mesh tests used by the collision ratio.
- `aggregate`: per-frame summaries and the dataset-level (element-weighted) aggregation.
- `results_io`: our results npz and the official stage-1/stage-2 pickles.
- `ground_truth`: EgoBody annotation npz and the GT/predicted bodies.
- `scene_cubes`: stage-2 scene cubes mapped to the PV frame (collision/contact input).
- `pipeline`: results file + annotations + body models -> metrics (what `egohmr eval` calls).
- `report`: metrics.json, per_frame.csv, metrics.md.
- `plots`: PNG figures (matplotlib, Agg).

Definitions and the official-vs-corrected table: `docs/metrics.md`.
"""
