"""`egohmr doctor`: each check says what it found, and for a problem the fix."""

from pathlib import Path

import torch

from egohmr import doctor
from egohmr.pipeline.checkpoints import SHIPPED_STAGE1, SHIPPED_STAGE2
from egohmr.synth.generate import SynthConfig, generate_dataset


def test_torch_finding_names_the_installed_version():
    (first, *_) = doctor.check_torch()
    assert first.ok and torch.__version__ in first.detail


def test_missing_smpl_files_are_reported_with_the_file_to_add(tmp_path):
    (tmp_path / "SMPL_NEUTRAL.pkl").write_bytes(b"x")  # presence is what the layout check looks at
    found = {f.name: f for f in doctor.check_body(tmp_path)}
    assert found["body neutral"].ok and found["body neutral"].detail.endswith("SMPL_NEUTRAL.pkl")
    assert not found["body male"].ok and "SMPL_MALE.pkl" in found["body male"].fix
    assert [f.ok for f in doctor.check_body(None)] == [True]  # the open body needs nothing


def test_checkpoints_are_identified_by_stage_and_a_foreign_file_is_named(tmp_path):
    (s1,) = doctor.check_checkpoint(SHIPPED_STAGE1)
    (s2,) = doctor.check_checkpoint(SHIPPED_STAGE2)
    assert s1.ok and "egohmr.stage1 (shipped inference checkpoint)" in s1.detail
    assert s2.ok and "egohmr.stage2" in s2.detail
    junk = tmp_path / "junk.pt"
    junk.write_bytes(b"not a checkpoint")
    (bad,) = doctor.check_checkpoint(junk)
    assert not bad.ok and str(junk) in bad.detail


def test_dataset_layout_passes_a_valid_tree_and_names_a_broken_one(tmp_path):
    root = tmp_path / "egobody"
    generate_dataset(
        SynthConfig(
            out=root,
            seed=1,
            num_scenes=1,
            num_recordings=2,
            num_frames=4,
            width=96,
            height=54,
            body_source="open-lowres",
        )
    )
    (good,) = doctor.check_dataset_layout(root)
    assert good.ok, good.detail
    (Path(root) / "data_info_release.csv").unlink()
    (bad,) = doctor.check_dataset_layout(root)
    assert not bad.ok and "data_info_release.csv" in bad.detail and "check-dataset" in bad.fix


def test_the_command_exits_non_zero_only_for_a_required_problem(tmp_path, capsys):
    from egohmr.cli.main import main

    assert main(["doctor", "--checkpoint", str(SHIPPED_STAGE2)]) == 0
    junk = tmp_path / "junk.pt"
    junk.write_bytes(b"\0" * 10)
    assert main(["doctor", "--checkpoint", str(junk)]) == 1
    out = capsys.readouterr().out
    assert f"FIX  checkpoint junk.pt: {junk}" in out and out.rstrip().endswith("1 to fix")
