"""Dataset validation (real EgoBody or synthetic): `check_dataset` -> `CheckReport` of `Issue` (file, field,
message naming the frame). Modules: files and images (`files`), annotation fields (`fields`), per-frame transforms
(`calibration`), keypoint/box/scene geometry (`geometry`), SMPL parameters vs joints (`body`)."""

from egohmr.synth.checks.dataset import check_dataset
from egohmr.synth.checks.report import CheckReport, Issue

__all__ = ["CheckReport", "Issue", "check_dataset"]
