"""`egohmr demo` (tiny configuration) and `egohmr infer` end to end: outputs exist and are sane."""

from __future__ import annotations

import argparse
import json
import re
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from egohmr.body.identity import body_model_id
from tests.api.frames import load_frame


def _parser() -> argparse.ArgumentParser:
    from egohmr.cli import demo, infer

    parser = argparse.ArgumentParser(prog="egohmr")
    sub = parser.add_subparsers(dest="command")
    demo.register(sub)
    infer.register(sub)
    return parser


def _check_html(out: Path) -> str:
    html = (out / "index.html").read_text()
    links = re.findall(r'(?:href|src)="([^"#:]+)"', html)
    assert links
    for link in links:
        assert (out / link).is_file(), link
    return html


def _check_glb(path: Path, num_samples: int, gt: bool) -> None:
    import trimesh

    scene = trimesh.load(path, force="scene")
    names = set(scene.graph.nodes_geometry)
    expected = {"sample_00_mode"} | {f"sample_{i:02d}" for i in range(1, num_samples)} | {"scene_points"}
    assert expected <= names, names
    assert ("gt_body" in names) == gt


def test_demo_tiny(tiny_demo):
    out = tiny_demo
    metrics = json.loads((out / "metrics.json").read_text())
    values = metrics.get("metrics", metrics)
    for key in ("mpjpe_mm", "mpjpe_vis_mm", "v2v_mm", "collision_ratio"):
        assert np.isfinite(values[key]), key
    assert 0 < values["mpjpe_mm"] < 2000
    for name in ("metrics.md", "per_frame.csv", "per_joint_errors.png", "results.npz"):
        assert (out / name).is_file(), name
    overlays = sorted((out / "frames").glob("*_overlay.png"))
    assert len(overlays) == 2 and len(sorted((out / "frames").glob("*_scene.png"))) == 2
    img = np.asarray(Image.open(overlays[0]).convert("RGB")).astype(float)
    assert img.std() > 5.0
    highlights = np.asarray(Image.open(out / "highlights.png").convert("RGB"))
    assert highlights.shape[1] == img.shape[1] and highlights.shape[0] > img.shape[0]  # two labelled strips
    glbs = sorted((out / "frames").glob("*.glb"))
    assert len(glbs) == 2
    _check_glb(glbs[0], num_samples=2, gt=True)
    html = _check_html(out)
    assert "overlay" in html


def test_demo_refuses_foreign_folder(tmp_path):
    from egohmr.pipeline.demo import DemoSettings, run_demo

    (tmp_path / "precious.txt").write_text("x")
    with pytest.raises(ValueError, match="not written by egohmr demo"):
        run_demo(DemoSettings(out=tmp_path))


def test_infer_end_to_end(tiny_demo, tmp_path, capsys):
    frame = load_frame(tiny_demo / "dataset", 1)
    image = tmp_path / "frame.png"
    Image.fromarray(frame.image).save(image)
    pts_pv = frame.verts_scene @ frame.scene2pv[:3, :3].T + frame.scene2pv[:3, 3]
    np.save(tmp_path / "scene_pv.npy", pts_pv)
    (tmp_path / "kp.json").write_text(json.dumps(frame.keypoints.tolist()))
    common = [
        "infer", "--image", str(image), "--intrinsics", ",".join(map(str, frame.intrinsics)),
        "--bbox", ",".join(map(str, frame.bbox)), "--num-samples", "2", "--sampler", "ddim", "--steps", "5",
    ]  # fmt: skip
    out = tmp_path / "out"
    args = _parser().parse_args(
        common
        + ["--scene", str(tmp_path / "scene_pv.npy"), "--keypoints", str(tmp_path / "kp.json"), "--out", str(out)]
    )
    assert args.func(args) == 0
    last = capsys.readouterr().out.strip().splitlines()[-1]
    assert last.endswith(str((out / "index.html").resolve()))
    pred = np.load(out / "prediction.npz")
    assert pred["vertices_pv"].shape[0] == 2 and np.all(np.isfinite(pred["vertices_pv"]))
    assert pred["visibility"].shape == (24,)
    assert str(pred["body_model"]) == "open-lowres"
    assert str(pred["body_model_sha256"]) == body_model_id("open-lowres")["sha256"]
    assert "trained on synthetic data" in _check_html(out)
    _check_glb(next((out / "frames").glob("*.glb")), num_samples=2, gt=False)
    # mesh in the world frame + --world-to-camera as 16 numbers: same stage-1 input points, so the same translation
    # (the stage-2 cube then uses the scene's vertical instead of the camera's, so the samples differ)
    out2 = tmp_path / "out2"
    args2 = _parser().parse_args(
        common + ["--scene", str(frame.mesh_path), "--keypoints", str(tmp_path / "kp.json"),
                  "--world-to-camera=" + ",".join(map(str, frame.scene2pv.reshape(-1))), "--out", str(out2)]
    )  # fmt: skip
    assert args2.func(args2) == 0
    pred2 = np.load(out2 / "prediction.npz")
    np.testing.assert_allclose(pred2["transl_pv"], pred["transl_pv"], atol=1e-4)
    assert np.all(np.isfinite(pred2["vertices_pv"]))
    # a bad box is a clear error
    args3 = _parser().parse_args(
        common[:5] + ["--bbox", "1,2,3", "--scene", str(tmp_path / "scene_pv.npy"), "--out", str(tmp_path / "o3")]
    )
    with pytest.raises(ValueError, match="--bbox: expected 4"):
        args3.func(args3)


# ---------------------------------------------------------------------------------------------- flags -> settings
INFER_REQUIRED = ["infer", "--image", "i.png", "--scene", "s.npy", "--intrinsics", "1,2,3,4", "--bbox", "5,6,7,8",
                  "--out", "o"]  # fmt: skip


def _infer_settings(extra: list[str]):
    from egohmr.cli.infer import infer_settings

    return infer_settings(_parser().parse_args(INFER_REQUIRED + extra))


@pytest.mark.parametrize(
    ("extra", "field", "expected"),
    [
        ([], "image", Path("i.png")),
        ([], "scene", Path("s.npy")),
        ([], "intrinsics", (1.0, 2.0, 3.0, 4.0)),
        ([], "bbox_px", (5.0, 6.0, 7.0, 8.0)),
        ([], "out", Path("o")),
        (["--keypoints", "kp.json"], "keypoints", Path("kp.json")),
        (["--world-to-camera", "T.npy"], "world_to_camera", "T.npy"),
        (["--stage1", "a.pt"], "stage1", Path("a.pt")),
        (["--stage2", "b.pt"], "stage2", Path("b.pt")),
        (["--device", "cuda"], "device", "cuda"),
        (["--num-samples", "3"], "sampling.num_samples", 3),
        (["--sampler", "ddim"], "sampling.sampler", "ddim"),
        (["--steps", "7"], "sampling.steps", 7),
        (["--no-fuse"], "sampling.fuse", False),
        (["--fuse"], "sampling.fuse", True),
        (["--no-guidance"], "sampling.guidance", False),
        (["--guidance"], "sampling.guidance", True),
        (["--seed", "11"], "sampling.seed", 11),
        (["--max-memory-gb", "2.5"], "sampling.max_memory_gb", 2.5),
        (["--eta", "1"], "sampling.eta", 1.0),
        (["--spacing", "5,1,1,1,1"], "sampling.spacing", "5,1,1,1,1"),
        (["--fast"], "sampling.fast", True),
    ],
)
def test_infer_flag_reaches_its_setting(extra, field, expected):
    value = _infer_settings(extra)
    for part in field.split("."):
        value = getattr(value, part)
    assert value == expected


def test_infer_without_sampling_flags_keeps_every_preset_value():
    from egohmr.pipeline.sampling import SamplingOverrides

    assert _infer_settings([]).sampling == SamplingOverrides()


@pytest.mark.parametrize(
    ("extra", "field", "expected"),
    [
        (["--num-samples", "3"], "num_samples", 3),
        (["--sampler", "ddim", "--steps", "5"], "spacing", "ddim5"),
        (["--sampler", "ddim"], "spacing", "ddim50"),  # the steps of the preset (all 50) are kept
        (["--steps", "10"], "spacing", "10"),
        (["--no-fuse"], "diffuse_fuse", False),
        (["--no-guidance"], "guidance.enabled", False),
        (["--seed", "11"], "seed", 11),
        (["--max-memory-gb", "2.5"], "max_memory_gb", 2.5),
        (["--eta", "0.5"], "eta", 0.5),
        (["--fast"], "spacing", "5,2,1,1,1"),
        (["--fast"], "guidance.weight", 40.0),
    ],
)
def test_infer_sampling_flag_reaches_stage2_test_config(extra, field, expected):
    from egohmr.diffusion.schedule import NoiseScheduleConfig
    from egohmr.pipeline.sampling import demo_preset
    from egohmr.stage2.config import Stage2TestConfig

    preset = demo_preset(Stage2TestConfig())
    value = _infer_settings(extra).sampling.apply(preset, NoiseScheduleConfig())
    for part in field.split("."):
        value = getattr(value, part)
        preset = getattr(preset, part)
    assert value == expected != preset


def _demo_settings(extra: list[str]):
    from egohmr.cli.demo import demo_settings

    return demo_settings(_parser().parse_args(["demo", *extra]))


@pytest.mark.parametrize(
    ("extra", "field", "expected"),
    [
        (["--out", "d"], "out", Path("d")),
        (["--frames", "4"], "frames", 4),
        (["--recordings", "3"], "recordings", 3),
        (["--num-samples", "3"], "sampling.num_samples", 3),
        (["--seed", "2"], "seed", 2),
        (["--seed", "2"], "sampling.seed", 2),
        (["--device", "cpu"], "device", "cpu"),
        (["--stage1", "a.pt"], "stage1", "a.pt"),
        (["--stage2", "b.pt"], "stage2", "b.pt"),
        (["--sampler", "ddim"], "sampling.sampler", "ddim"),
        (["--steps", "5"], "sampling.steps", 5),
        (["--fast"], "sampling.fast", True),
        (["--tiny"], "width", 320),
        (["--tiny"], "sampling.num_samples", 2),
    ],
)
def test_demo_flag_reaches_its_setting(extra, field, expected):
    value = _demo_settings(extra)
    for part in field.split("."):
        value = getattr(value, part)
    assert value == expected


def test_demo_without_flags_is_the_default_demo():
    from egohmr.pipeline.demo import DemoSettings

    assert _demo_settings([]) == DemoSettings()
