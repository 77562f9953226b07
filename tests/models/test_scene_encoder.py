"""ResNet-PointNet scene encoder: golden parity (pointnet.npz), shapes and basic invariances."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from egohmr.models.scene_encoder import ResnetPointnet
from tests.golden_recipe import recipe_state_dict


def _official(golden, dtype: torch.dtype) -> tuple[ResnetPointnet, dict[str, np.ndarray]]:
    fx = golden("pointnet")
    model = ResnetPointnet(out_dim=512, hidden_dim=256)
    model.load_state_dict(recipe_state_dict(fx), strict=True)
    return model.eval().to(dtype), fx


def test_state_dict_matches_manifest(golden):
    fx = golden("pointnet")
    state = ResnetPointnet().state_dict()
    assert list(state) == [str(k) for k in fx["sd_keys"]]
    for key, shape in zip(fx["sd_keys"], fx["sd_shapes"], strict=True):
        assert "x".join(str(n) for n in state[str(key)].shape) == str(shape), key
    assert sum(p.numel() for p in ResnetPointnet().parameters()) == 1_446_400


def test_parity_float64(golden):
    model, fx = _official(golden, torch.float64)
    with torch.no_grad():
        feat = model(torch.from_numpy(fx["points"]))
    assert feat.dtype == torch.float64 and feat.shape == (2, 512)
    np.testing.assert_allclose(feat.numpy(), fx["feat_f64"], rtol=1e-10, atol=1e-12)


def test_parity_float32(golden):
    model, fx = _official(golden, torch.float32)
    with torch.no_grad():
        feat = model(torch.from_numpy(fx["points"]).float())
    # README: f32 vs f64 gap 5e-9 on values about 0.06; our f32 run repeats the official f32 arithmetic.
    np.testing.assert_allclose(feat.numpy(), fx["feat_f32"], rtol=0, atol=5e-8)
    np.testing.assert_allclose(feat.numpy(), fx["feat_f64"], rtol=0, atol=5e-8)


def test_point_order_invariance_and_sizes():
    gen = torch.Generator().manual_seed(0)
    model = ResnetPointnet(out_dim=32, hidden_dim=16).double().eval()
    for p in model.parameters():  # fc_1 starts at zero: randomise so every path matters
        torch.nn.init.normal_(p, std=0.3, generator=gen)
    pts = torch.randn(3, 50, 3, generator=gen, dtype=torch.float64)
    perm = torch.randperm(50, generator=gen)
    out = model(pts)
    assert out.shape == (3, 32)
    torch.testing.assert_close(model(pts[:, perm]), out, rtol=1e-12, atol=1e-12)
    # Each cloud is encoded independently of the others in the batch.
    torch.testing.assert_close(model(pts[1:2]), out[1:2], rtol=1e-12, atol=1e-12)


def test_configurable_blocks_and_bad_shape():
    model = ResnetPointnet(out_dim=8, hidden_dim=4, num_blocks=2)
    assert sorted(k for k in model.state_dict() if k.startswith("block_")) == sorted(
        f"block_{i}.{n}"
        for i in range(2)
        for n in ("fc_0.weight", "fc_0.bias", "fc_1.weight", "fc_1.bias", "shortcut.weight")
    )
    with pytest.raises(ValueError, match="points"):
        model(torch.zeros(2, 10, 4))


def test_split_block_equals_the_block_on_the_concatenation():
    """The pooled half of a block's input layers, computed once per cloud, gives the block's output on the
    concatenated features (the forward pass relies on it; gradients flow to every weight)."""
    from egohmr.models.scene_encoder import ResnetBlockFC

    torch.manual_seed(0)
    block = ResnetBlockFC(2 * 8, 8).double()
    torch.nn.init.normal_(block.fc_1.weight)
    local = torch.randn(3, 50, 8, dtype=torch.float64)
    pooled = local.max(dim=1, keepdim=True).values
    expected = block(torch.cat([local, pooled.expand_as(local)], dim=2))
    got = block.forward_with_pooled(local, pooled)
    torch.testing.assert_close(got, expected, rtol=1e-12, atol=1e-12)
    got.sum().backward()
    assert all(p.grad is not None and p.grad.abs().sum() > 0 for p in block.parameters())
    with pytest.raises(ValueError, match="sizes differ"):
        ResnetBlockFC(8, 8).forward_with_pooled(local, pooled)
