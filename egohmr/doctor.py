"""What a user has, and what is missing: torch and its device, extras, body files, a dataset, checkpoints.

Every check returns `Finding`s: a name, whether it is fine, what was found, and for a problem the command or file
that fixes it. Nothing here prints; `egohmr doctor` does.
"""

from __future__ import annotations

import importlib.util
from dataclasses import dataclass
from pathlib import Path

__all__ = ["Finding", "check_body", "check_checkpoint", "check_dataset_layout", "check_extras", "check_torch"]


@dataclass(frozen=True)
class Finding:
    """One line of the doctor's report; an `optional` problem (a missing extra) does not fail the check."""

    name: str
    ok: bool
    detail: str
    fix: str = ""
    optional: bool = False


EXTRAS: tuple[tuple[str, str, str], ...] = (
    ("moderngl", "render", "EGL rendering of overlays (a slower numpy rasteriser is used without it)"),
    ("viser", "viewer", "`egohmr view`, the interactive 3D viewer"),
    ("tensorboard", "tensorboard", "training curves in TensorBoard"),
)
"""(module, extra, what it is for) of each optional dependency."""


def check_torch() -> list[Finding]:
    """torch version and build, and the devices it can use."""
    import torch

    build = f"CUDA {torch.version.cuda}" if torch.version.cuda else "CPU-only build"
    found = [Finding("torch", True, f"torch {torch.__version__} ({build}), {torch.get_num_threads()} CPU threads")]
    if torch.cuda.is_available():
        names = ", ".join(torch.cuda.get_device_name(i) for i in range(torch.cuda.device_count()))
        found.append(Finding("cuda", True, f"{torch.cuda.device_count()} GPU(s): {names}"))
    elif torch.version.cuda:
        found.append(Finding("cuda", True, "a CUDA build of torch but no usable GPU: everything runs on the CPU"))
    else:
        found.append(Finding("cuda", True, "no GPU support in this torch build: everything runs on the CPU"))
    return found


def check_extras() -> list[Finding]:
    """Optional dependencies: installed or not, and the extra that brings each."""
    found = []
    for module, extra, purpose in EXTRAS:
        present = importlib.util.find_spec(module) is not None
        detail = f"{module} {'installed' if present else 'not installed'}: {purpose}"
        fix = "" if present else f"pip install 'egohmr[{extra}]'"
        found.append(Finding(f"extra {extra}", present, detail, fix, optional=True))
    return found


def check_body(source: str | Path | None) -> list[Finding]:
    """Which body model is active: SMPL files from `source` (each gender) or the open body."""
    from egohmr.body.io import resolve_body_path

    if source is None:
        return [Finding("body", True, "open body (packaged, no licence needed); pass --body DIR for SMPL files", "")]
    found = []
    for gender in ("neutral", "male", "female"):
        try:
            path = resolve_body_path(source, gender)
            found.append(Finding(f"body {gender}", True, f"{path}"))
        except (FileNotFoundError, ValueError) as err:
            found.append(
                Finding(
                    f"body {gender}",
                    False,
                    str(err),
                    f"put SMPL_{gender.upper()}.pkl into {source} (docs/reproduce.md)",
                )
            )
    return found


def check_dataset_layout(root: str | Path) -> list[Finding]:
    """The dataset's files, annotation fields and dtypes (`check-dataset --quick`: no image or geometry pass)."""
    from egohmr.synth.checks import check_dataset

    report = check_dataset(root, quick=True)
    if report.ok:
        return [Finding("dataset", True, f"{root}: {report.frames} frames, {report.files_checked} files, no issue")]
    first = "; ".join(str(issue) for issue in report.issues[:3])
    more = f" (+{len(report.issues) - 3} more)" if len(report.issues) > 3 else ""
    return [
        Finding(
            "dataset",
            False,
            f"{root}: {len(report.issues)} issue(s): {first}{more}",
            f"egohmr check-dataset --dataset {root} lists every issue",
        )
    ]


def check_checkpoint(path: str | Path) -> list[Finding]:
    """Which stage and kind a checkpoint file is (ours, shipped, official), without running any of its code."""
    from egohmr.train.checkpoint_files import detect_checkpoint, read_state_dict_file

    path = Path(path)
    try:
        data = read_state_dict_file(path)
        kind = detect_checkpoint(data)
    except (FileNotFoundError, ValueError) as err:
        return [Finding(f"checkpoint {path.name}", False, str(err), "check the path, or download the file again")]
    if kind == "unknown":
        return [
            Finding(
                f"checkpoint {path.name}",
                False,
                f"{path}: not an egohmr, EgoHMR or ProHMR checkpoint",
                "pass a stage-1 or stage-2 file (docs/reproduce.md lists them)",
            )
        ]
    if kind == "ours":
        shipped = "inference" in (data.get("extras") or {})
        kind = f"{data['kind']} ({'shipped inference' if shipped else 'training'} checkpoint)"
    return [Finding(f"checkpoint {path.name}", True, f"{path}: {kind}")]
