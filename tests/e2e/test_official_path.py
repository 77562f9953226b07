"""The official-files path of docs/reproduce.md, start to finish, on stand-ins built here.

Stand-ins: the official checkpoints in their layout (``53618/best_model.pt``; ``91453/best_model_mpjpe_vis.pt`` with
``91453/preprocess_stats/preprocess_stats.npz``) rebuilt with the golden recipe, official-format SMPL pickles
(chumpy-style objects, sparse regressor) written from the open body into ``data/smpl/smpl/`` as smplx expects, and a
small synthetic EgoBody tree. Each command runs in-process through `egohmr.cli.main.main` with default folders.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from egohmr.body import load_body_arrays, resolve_body_path
from egohmr.cli.main import main
from egohmr.data import egobody_format as ef
from egohmr.evaluate.results_io import load_any_results
from egohmr.synth.generate import SynthConfig, generate_dataset
from tests.body.smpl_pickle import write_chumpy_style_pickle
from tests.official_files import write_official_stage1, write_official_stage2

NUM_SAMPLES = 2


@pytest.fixture(scope="module")
def official_tree(golden, tmp_path_factory) -> Path:
    """``<tmp>/data/egobody_release`` (synthetic), ``<tmp>/data/smpl/smpl/SMPL_*.pkl``, ``<tmp>/checkpoints_egohmr``."""
    root = tmp_path_factory.mktemp("official")
    generate_dataset(
        SynthConfig(
            out=root / "data" / "egobody_release",
            seed=2,
            num_scenes=1,
            num_recordings=2,
            num_frames=6,
            width=192,
            height=108,
            workers=1,
            body_source="open-lowres",
        )
    )
    for gender in ("neutral", "male", "female"):
        arrays = load_body_arrays(resolve_body_path("open-lowres", gender))
        smpl = root / "data" / "smpl" / "smpl"
        smpl.mkdir(parents=True, exist_ok=True)
        write_chumpy_style_pickle(smpl / f"SMPL_{gender.upper()}.pkl", arrays, 2)
    write_official_stage1(golden, root / "checkpoints_egohmr" / "53618")
    write_official_stage2(golden, root / "checkpoints_egohmr" / "91453")
    return root


def _run(*argv: str | Path) -> None:
    assert main([str(a) for a in argv]) == 0, " ".join(map(str, argv))


def test_official_files_path_runs_end_to_end(official_tree, caplog):
    root = official_tree
    data, smpl = root / "data" / "egobody_release", root / "data" / "smpl"
    s1_out, s2_out = root / "output_prohmr_scene_53618", root / "output_egohmr_91453"
    num_test = ef.read_annotation_npz(ef.annotation_path(data, "test"))["imgname"].shape[0]
    assert num_test > 0

    _run("preprocess", "scene-s1", "--dataset", data, "--split", "test", "--allow-replacement", "--no-progress")
    caplog.set_level("INFO", logger="egohmr.body.io")
    _run(
        "test", "stage1", "--checkpoint", root / "checkpoints_egohmr" / "53618" / "best_model.pt",
        "--dataset", data, "--body", smpl, "--num-samples", NUM_SAMPLES, "--batch-size", 4, "--out", s1_out,
    )  # fmt: skip
    assert str(smpl / "smpl" / "SMPL_NEUTRAL.pkl") in caplog.text  # the official layout was found and logged
    _run(
        "preprocess", "scene-s2-test", "--dataset", data, "--stage1-results", s1_out / "results.pkl",
        "--allow-replacement", "--no-progress",
    )  # fmt: skip
    _run(
        "test", "stage2", "--checkpoint", root / "checkpoints_egohmr" / "91453" / "best_model_mpjpe_vis.pt",
        "--dataset", data, "--stage1-results", s1_out / "results.pkl", "--body", smpl,
        "--num-samples", NUM_SAMPLES, "--sampler", "ddim", "--steps", 5, "--fuse", "--guidance", "--seed", 0,
        "--out", s2_out,
    )  # fmt: skip

    results = load_any_results(s2_out / "results.npz")
    assert (results.num_frames, results.num_samples) == (num_test, NUM_SAMPLES)
    cubes = data / "Egohmr_scene_preprocess_cube_s2_from_pred_release"
    for mode, results_file in (("official", "results_seed_0.pkl"), ("corrected", "results.npz")):
        out = root / f"eval_{mode}"
        _run(
            "eval", s2_out / results_file, "--dataset", data, "--body", smpl, "--mode", mode,
            "--scene-dir", cubes, "--no-plots", "--out", out,
        )  # fmt: skip
        report = json.loads((out / "metrics.json").read_text())
        settings = report["settings"]
        assert (settings["mode"], settings["num_frames"]) == (mode, num_test)
        assert settings["results_file"] == str(s2_out / results_file)
        assert np.isfinite(report["metrics"]["mpjpe_mm"]) and settings["collision_contact_evaluated"]
