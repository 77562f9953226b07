"""Folder names of the official data layout under the EgoBody root (``--dataset``, ``data.root``).

Producers (`egohmr preprocess`) write to these folders by default and consumers (`egohmr test`, the stage configs)
read from them by default, so the commands chain with ``--dataset`` alone.
"""

from __future__ import annotations

SCENE_S1_DIR = "preprocess_scene_s1"
"""Stage-1 scene points (``egohmr preprocess scene-s1``; ``test stage1 --scene-dir``, ``data.scene_dir``)."""
SCENE_S2_TRAIN_DIR = "Egohmr_scene_preprocess_cube_s2_from_gt_release"
"""Stage-2 cubes around the GT body (``preprocess scene-s2-train``; ``data.scene_dir_train``). Official name."""
SCENE_S2_TEST_DIR = "Egohmr_scene_preprocess_cube_s2_from_pred_release"
"""Stage-2 cubes around the stage-1 translation (``preprocess scene-s2-test``; ``test stage2 --scene-dir``,
``data.scene_dir_test``). Official name."""
STATS_DIR = "preprocess_stats"
"""Diffusion pose statistics folder (``preprocess stats``; holds ``preprocess_stats.npz`` as the official run folders
do, e.g. ``91453/preprocess_stats/``)."""
