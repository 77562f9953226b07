"""The manifest recipe rebuilds the official weights bit for bit (first values of every tensor)."""

import numpy as np

from tests.golden_recipe import recipe_state_dict


def test_recipe_reproduces_manifest_checksums(golden):
    for name in ("pointnet", "stage1_flow", "stage2_denoiser"):
        fixture = golden(name)
        state = recipe_state_dict(fixture)
        for key, first4 in zip(fixture["sd_keys"], fixture["sd_checksum_first4"], strict=True):
            key = str(key)
            if key not in state or not state[key].is_floating_point():
                continue
            flat = state[key].reshape(-1)[:4].double().numpy()
            np.testing.assert_array_equal(flat, first4[: flat.size], err_msg=f"{name}: {key}")
