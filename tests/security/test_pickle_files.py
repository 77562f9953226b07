"""Raw pickle files egohmr reads (results, transforms, stage-1 scene points, SMPL models): a payload in any of them,
in any pickle protocol, is refused before it runs, with an error naming the file and the refused name."""

from __future__ import annotations

import pickle
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from egohmr.body.io import load_body_arrays
from egohmr.data.dataset import load_stage1_translations
from egohmr.data.egobody_format import read_transf_matrices
from egohmr.data.scene_points import SceneS1Store
from egohmr.evaluate.results_io import read_official_stage1, read_official_stage2
from egohmr.safe_load import UnsafeFileError
from tests.security.payloads import PAYLOADS, PROTOCOLS, Payload, assert_refused, run_unsafely


def _scene_store(path: Path) -> None:
    """Read the stage-1 scene pickles of `path`'s folder (the other one of the pair is written benign)."""
    for name, benign in (("map_dict_test.pkl", {"a": "a"}), ("pcd_verts_dict_test.pkl", {"a": np.zeros((4, 3))})):
        if not (path.parent / name).exists():
            (path.parent / name).write_bytes(pickle.dumps(benign))
    SceneS1Store(path.parent, "test", num_points=None).saved_key("a")


# kind -> (file name, file content around the payload, loader)
KINDS: dict[str, tuple[str, Callable[[Any], Any], Callable[[Path], Any]]] = {
    "official_stage1_results": ("results.pkl", lambda p: {"pred_cam_full_list": p}, read_official_stage1),
    "stage1_results_for_stage2": (
        "results.pkl",
        lambda p: {"pred_cam_full_list": np.zeros((1, 3)), "extra": [p]},
        lambda path: load_stage1_translations(path, 1),
    ),
    "official_stage2_results": (
        "results_seed_0.pkl",
        lambda p: {"pred_betas_list": np.zeros((1, 1, 10), np.float32), "pred_body_pose_list": p},
        read_official_stage2,
    ),
    "transf_matrices": (
        "transf_matrices_all_seqs.pkl",
        lambda p: {"rec": {"trans_kinect2holo": np.eye(4), "trans_world2pv": {"123": p}}},
        read_transf_matrices,
    ),
    "scene_s1_map_dict": ("map_dict_test.pkl", lambda p: {"a": p}, _scene_store),
    "scene_s1_pcd_verts_dict": ("pcd_verts_dict_test.pkl", lambda p: {"a": p}, _scene_store),
    "smpl_pkl": ("SMPL_NEUTRAL.pkl", lambda p: {"v_template": np.zeros((3, 3)), "shapedirs": p}, load_body_arrays),
}


@pytest.mark.parametrize("payload", PAYLOADS, ids=lambda p: p.id)
def test_payloads_run_under_plain_pickle(tmp_path, payload: Payload):
    """The payloads are real: an unrestricted `pickle.loads` creates the marker."""
    marker = tmp_path / "marker"
    run_unsafely(pickle.dumps(payload.build(marker), protocol=2))
    assert marker.exists()


@pytest.mark.parametrize("protocol", PROTOCOLS)
@pytest.mark.parametrize("payload", PAYLOADS, ids=lambda p: p.id)
@pytest.mark.parametrize("kind", sorted(KINDS))
def test_pickle_loaders_refuse_payloads(tmp_path, kind: str, payload: Payload, protocol: int):
    name, wrap, load = KINDS[kind]
    marker = tmp_path / "marker"
    path = tmp_path / name
    path.write_bytes(pickle.dumps(wrap(payload.build(marker)), protocol=protocol))
    with pytest.raises(UnsafeFileError) as info:
        load(path)
    assert_refused(info.value, path, payload.refused, marker)
