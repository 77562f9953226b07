"""Settings that decide how EgoHMR metrics are computed."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

EvalMode = Literal["corrected", "official"]
EVAL_MODES: tuple[str, ...] = ("corrected", "official")


@dataclass(frozen=True)
class EvalSettings:
    """How metrics are computed.

    Attributes:
        mode: "corrected" (default) fixes the official quirks; "official" reproduces the official EgoHMR numbers
            exactly (`test_egohmr.py`, reference-egohmr.md section 5). The quirks are listed in docs/metrics.md.
        image_size_px: (width, height) of the PV image used for the visibility split. Official: 1920 x 1080.
        contact_threshold_m: body-scene contact threshold in metres (official value 0.02; the official code compares it
            with the squared distance).
        pa_alignment: "visible" estimates the PA-MPJPE similarity transform from the visible joints only (official
            stage-2 default `--eval_with_vis_mask_pa True`); "all" from all 24 joints (official stage 1).
    """

    mode: EvalMode = "corrected"
    image_size_px: tuple[int, int] = (1920, 1080)
    contact_threshold_m: float = 0.02
    pa_alignment: Literal["visible", "all"] = "visible"

    def __post_init__(self) -> None:
        if self.mode not in EVAL_MODES:
            raise ValueError(f"EvalSettings.mode: got {self.mode!r}, expected one of {EVAL_MODES}")
        if self.pa_alignment not in ("visible", "all"):
            raise ValueError(f"EvalSettings.pa_alignment: got {self.pa_alignment!r}, expected 'visible' or 'all'")
        if len(self.image_size_px) != 2 or min(self.image_size_px) <= 0:
            raise ValueError(f"EvalSettings.image_size_px: got {self.image_size_px!r}, expected (width, height) > 0")
        if not self.contact_threshold_m > 0:
            raise ValueError(f"EvalSettings.contact_threshold_m: got {self.contact_threshold_m!r}, expected > 0")

    @property
    def official(self) -> bool:
        """True in official-compatibility mode."""
        return self.mode == "official"
