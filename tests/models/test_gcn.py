"""Modulated GCN: fixed adjacency, graph conv maths, projection linearity, official key names."""

from __future__ import annotations

import pytest
import torch

from egohmr.constants import SMPL_EDGES
from egohmr.models.gcn import (
    ModulatedGCN,
    ModulatedGraphConv,
    fixed_adjacency,
    modulated_propagate,
    symmetric_adjacency,
)


def test_fixed_adjacency_matches_golden(golden):
    expected = torch.from_numpy(golden("stage2_denoiser")["gcn_adj_fixed"])
    adj = fixed_adjacency()
    assert adj.dtype == torch.float32
    assert torch.equal(adj, expected)


def test_fixed_adjacency_structure():
    adj = fixed_adjacency()
    assert torch.equal(torch.diagonal(adj), torch.ones(24))
    off = adj - torch.diag(torch.diagonal(adj))
    # each row of the off-diagonal part sums to 1 (row-normalised by degree)
    torch.testing.assert_close(off.sum(1), torch.ones(24))
    assert int((off > 0).sum()) == 2 * len(SMPL_EDGES)
    assert adj[0, 1] == pytest.approx(1 / 3) and adj[1, 0] == pytest.approx(1 / 2)


def test_fixed_adjacency_rejects_bad_edges():
    with pytest.raises(ValueError, match="outside"):
        fixed_adjacency([(0, 30)], num_joints=24)
    with pytest.raises(ValueError, match="without edges"):
        fixed_adjacency([(0, 1)], num_joints=3)


def test_graph_conv_equals_explicit_formula():
    gen = torch.Generator().manual_seed(0)
    adj = fixed_adjacency().double()
    layer = ModulatedGraphConv(5, 4, adj).double()
    with torch.no_grad():
        for p in layer.parameters():
            p.copy_(torch.randn(p.shape, generator=gen, dtype=torch.float64))
    x = torch.randn(3, 24, 5, generator=gen, dtype=torch.float64)
    a = (adj + layer.adj2 + (adj + layer.adj2).T) / 2
    eye = torch.eye(24, dtype=torch.float64)
    h0 = layer.M * (x @ layer.W[0])
    h1 = layer.M * (x @ layer.W[1])
    expected = (a * eye) @ h0 + (a * (1 - eye)) @ h1 + layer.bias
    torch.testing.assert_close(layer(x), expected, rtol=1e-12, atol=1e-12)
    torch.testing.assert_close(symmetric_adjacency(adj, layer.adj2), a)
    xw = torch.stack((x @ layer.W[0], x @ layer.W[1]), dim=-2)
    torch.testing.assert_close(modulated_propagate(xw, a, layer.M, layer.bias), expected)
    # the stacked weight is the projection as a single GEMM
    torch.testing.assert_close((x @ layer.stacked_weight()).unflatten(-1, (2, 4)), layer.project(x))


def test_gcn_keys_shapes_and_trace():
    net = ModulatedGCN(in_features=20, hidden_features=16, out_features=6, num_blocks=2).eval()
    keys = list(net.state_dict())
    assert keys[:4] == [f"gconv_input.0.gconv.{n}" for n in ("W", "M", "adj2", "bias")]
    assert "gconv_input.0.bn.running_var" in keys
    assert "gconv_layers.1.gconv2.gconv.W" in keys and "gconv_layers.1.gconv1.bn.weight" in keys
    assert keys[-4:] == [f"gconv_output.{n}" for n in ("W", "M", "adj2", "bias")]
    assert not any(k.endswith(".adj") for k in keys)  # the fixed graph is not a checkpoint entry
    x = torch.randn(2, 24, 20, generator=torch.Generator().manual_seed(1))
    trace = net.trace(x)
    assert trace.output.shape == (2, 24, 6)
    assert len(trace.hidden) == 3 and all(h.shape == (2, 24, 16) for h in trace.hidden)
    torch.testing.assert_close(net(x), trace.output)
    assert bool((trace.hidden[0] >= 0).all())  # ReLU after the input layer


def test_projection_is_linear_so_partial_projections_add_up():
    net = ModulatedGCN(in_features=12, hidden_features=8, num_blocks=1).double().eval()
    gen = torch.Generator().manual_seed(2)
    xa = torch.randn(2, 24, 12, generator=gen, dtype=torch.float64)
    xb = torch.randn(2, 24, 12, generator=gen, dtype=torch.float64)
    xw = net.input_layer.project(xa) + net.input_layer.project(xb)
    torch.testing.assert_close(net.forward_projected(xw), net(xa + xb), rtol=1e-12, atol=1e-12)


def test_gcn_follows_dtype():
    net = ModulatedGCN(in_features=10, hidden_features=8, num_blocks=1).double().eval()
    assert net.input_layer.adj.dtype == torch.float64
    out = net(torch.zeros(1, 24, 10, dtype=torch.float64))
    assert out.dtype == torch.float64
