"""Rebuild an official-layout state dict from a golden fixture's manifest (recipe in tests/golden/README.md).

Each floating-point key gets `r = randn(shape, generator seeded sd_seed, float64).float()` and the rule named in
`sd_recipe`; untouched floating-point keys take their stored `const__<key>` value when one is stored (the others,
e.g. the stage-2 positional table, must be supplied by the model itself). Integer and bool buffers follow their
rule or are left out when untouched (the model's constructor values stand).
"""

from __future__ import annotations

import numpy as np
import torch


def _shape(text: str) -> tuple[int, ...]:
    return () if text == "()" else tuple(int(n) for n in text.split("x"))


def recipe_state_dict(fixture: dict[str, np.ndarray]) -> dict[str, torch.Tensor]:
    """Return {official key: float32/int/bool tensor} rebuilt from the manifest arrays of `fixture`."""
    state: dict[str, torch.Tensor] = {}
    for key, shape_text, dtype, rule, seed in zip(
        fixture["sd_keys"],
        fixture["sd_shapes"],
        fixture["sd_dtypes"],
        fixture["sd_recipe"],
        fixture["sd_seed"],
        strict=True,
    ):
        key, rule = str(key), str(rule)
        shape = _shape(str(shape_text))
        if rule == "untouched":
            const = fixture.get(f"const__{key}")
            if const is not None:
                state[key] = torch.from_numpy(np.asarray(const)).reshape(shape)
            continue
        if rule.startswith("actnorm_initialized"):
            state[key] = torch.ones(shape, dtype=torch.bool)
            continue
        if rule.startswith("bn_num_batches_tracked"):
            state[key] = torch.zeros(shape, dtype=torch.int64)
            continue
        assert dtype == "float32", f"{key}: recipe {rule!r} on dtype {dtype}"
        generator = torch.Generator().manual_seed(int(seed))
        r = torch.randn(shape, generator=generator, dtype=torch.float64).float()
        if rule.startswith("default"):
            state[key] = r * 0.02
        elif rule.startswith("bn_running_var"):
            state[key] = 1.0 + 0.1 * r.abs()
        elif rule.startswith("bn_weight"):
            state[key] = 1.0 + 0.02 * r
        else:
            raise ValueError(f"{key}: unknown recipe rule {rule!r}")
    return state
