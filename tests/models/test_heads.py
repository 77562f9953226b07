"""Stage-1 FC head: key layout, shapes, mean-parameter offsets and golden parity of the head alone."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from egohmr.models.heads import DEFAULT_INIT_CAM_CROP, DEFAULT_MEAN_BETAS, FCHead
from tests.golden_recipe import recipe_state_dict


def test_keys_shapes_and_defaults(golden):
    fx = golden("stage1_flow")
    head = FCHead()
    state = head.state_dict()
    manifest = [(str(k).removeprefix("fc_head."), str(s)) for k, s in zip(fx["sd_keys"], fx["sd_shapes"], strict=True)]
    manifest = [(k, s) for k, s in manifest if not k.startswith("flow.")]
    assert [(k, "x".join(str(n) for n in v.shape)) for k, v in state.items()] == manifest
    np.testing.assert_array_equal(state["init_betas"].numpy(), fx["const__fc_head.init_betas"])
    np.testing.assert_array_equal(state["init_cam"].numpy(), fx["const__fc_head.init_cam"])
    assert len(DEFAULT_MEAN_BETAS) == 10 and DEFAULT_INIT_CAM_CROP == (0.9, 0.0, 0.0)


def test_offsets_added_to_means_and_repeated_over_samples():
    head = FCHead(context_features=7, hidden_features=5).double()
    torch.nn.init.zeros_(head.layers[2].weight)
    torch.nn.init.zeros_(head.layers[2].bias)
    ctx = torch.randn(4, 7, generator=torch.Generator().manual_seed(0), dtype=torch.float64)
    out = head(ctx, num_samples=3)
    assert out.betas.shape == (4, 3, 10) and out.cam_crop.shape == (4, 3, 3)
    torch.testing.assert_close(out.betas, head.init_betas.expand(4, 3, 10))
    torch.testing.assert_close(out.cam_crop, head.init_cam.expand(4, 3, 3))
    with torch.no_grad():
        head.layers[2].bias.copy_(torch.arange(13, dtype=torch.float64))
    out = head(ctx, num_samples=2)
    torch.testing.assert_close(
        out.cam_crop[0, 1], head.init_cam[0, 0] + torch.tensor([10.0, 11.0, 12.0], dtype=torch.float64)
    )
    torch.testing.assert_close(out.betas[:, 0], out.betas[:, 1])


def test_last_layer_small_init_and_bad_context():
    head = FCHead()
    w = head.layers[2].weight
    bound = 0.02 * (6.0 / (1024 + 13)) ** 0.5  # xavier-uniform bound with gain 0.02
    assert w.abs().max() <= bound and w.abs().max() > 0.5 * bound
    with pytest.raises(ValueError, match="context"):
        head(torch.zeros(2, 100))


def test_head_parity_float64(golden):
    fx = golden("stage1_flow")
    state = {k.removeprefix("fc_head."): v for k, v in recipe_state_dict(fx).items() if k.startswith("fc_head.")}
    head = FCHead()
    head.load_state_dict(state, strict=True)
    head = head.double().eval()
    out = head(torch.from_numpy(fx["context"]).double(), num_samples=3)
    np.testing.assert_allclose(out.betas.detach().numpy(), fx["sample_betas_f64"], rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(out.cam_crop.detach().numpy(), fx["sample_cam_f64"], rtol=1e-10, atol=1e-12)
