"""Ctrl-C during `egohmr train`: one line with the resume command on stderr, exit code 130, no traceback."""

from pathlib import Path

import pytest

from egohmr.cli.main import main
from egohmr.train import TrainingInterrupted


@pytest.mark.parametrize("stage", ["stage1", "stage2"])
def test_interrupted_training_prints_the_resume_command(stage, tmp_path, monkeypatch, capsys):
    module = __import__(f"egohmr.{stage}.train", fromlist=["train"])

    def interrupted(cfg, resume=False):
        raise TrainingInterrupted(7, tmp_path, tmp_path / "last.pt", stage)

    monkeypatch.setattr(module, "train", interrupted)
    assert main(["train", stage, "--config", "cpu", "--out", str(tmp_path)]) == 130
    err = capsys.readouterr().err.strip().splitlines()
    assert err == [f"interrupted at step 7; resume with: egohmr train {stage} --resume --out {Path(tmp_path)}"]
