"""COCO-17 / COCO-WholeBody <-> OpenPose BODY_25."""

from __future__ import annotations

import numpy as np
import pytest

from egohmr.constants import OPENPOSE25_NAMES
from egohmr.recordings.keypoint_maps import COCO17_NAMES, OP25_FROM_COCO, coco_to_op25, op25_to_coco

NECK, MIDHIP = OPENPOSE25_NAMES.index("Neck"), OPENPOSE25_NAMES.index("MidHip")
FEET = [OPENPOSE25_NAMES.index(n) for n in ("LBigToe", "LSmallToe", "LHeel", "RBigToe", "RSmallToe", "RHeel")]


def _random_op25(rng, n: int = 6) -> np.ndarray:
    kp = np.concatenate([rng.uniform(0, 500, (n, 25, 2)), rng.uniform(0.1, 1.0, (n, 25, 1))], axis=-1)
    kp[rng.random((n, 25)) < 0.3] = 0.0  # undetected joints
    return kp


@pytest.mark.parametrize("wholebody", [False, True])
def test_round_trip_on_mapped_joints(wholebody):
    kp = _random_op25(np.random.default_rng(0))
    back = coco_to_op25(op25_to_coco(kp, wholebody=wholebody))
    mapped = [op for op, coco in OP25_FROM_COCO.items() if wholebody or coco < 17]
    np.testing.assert_array_equal(back[:, mapped], kp[:, mapped])
    assert len(mapped) == (23 if wholebody else 17)
    if not wholebody:
        assert np.all(back[:, FEET] == 0)  # COCO-17 has no feet


def test_named_joints_land_on_the_right_indices():
    coco = np.zeros((17, 3))
    coco[COCO17_NAMES.index("right_wrist")] = (10, 20, 0.5)
    coco[COCO17_NAMES.index("left_ankle")] = (30, 40, 0.7)
    op = coco_to_op25(coco)
    np.testing.assert_array_equal(op[OPENPOSE25_NAMES.index("RWrist")], (10, 20, 0.5))
    np.testing.assert_array_equal(op[OPENPOSE25_NAMES.index("LAnkle")], (30, 40, 0.7))
    assert np.count_nonzero(op[:, 2]) == 2


def test_neck_and_midhip_are_midpoints_of_confident_pairs():
    coco = np.zeros((17, 3))
    for name, xy in (("left_shoulder", (10, 10)), ("right_shoulder", (30, 14)), ("left_hip", (12, 50))):
        coco[COCO17_NAMES.index(name)] = (*xy, 0.8)
    coco[COCO17_NAMES.index("right_hip")] = (28, 54, 0.3)
    op = coco_to_op25(coco)
    np.testing.assert_allclose(op[NECK], (20, 12, 0.8))
    np.testing.assert_allclose(op[MIDHIP], (20, 52, 0.3))
    # A hip at or below the threshold: no MidHip.
    assert np.all(coco_to_op25(coco, conf_threshold=0.3)[MIDHIP] == 0)
    np.testing.assert_allclose(coco_to_op25(coco, conf_threshold=0.3)[NECK], (20, 12, 0.8))


def test_wrong_counts_are_refused():
    with pytest.raises(ValueError, match=r"\(\.\.\., 17, 3\) or \(\.\.\., 133, 3\)"):
        coco_to_op25(np.zeros((18, 3)))
    with pytest.raises(ValueError, match="25, 3"):
        op25_to_coco(np.zeros((17, 3)))
