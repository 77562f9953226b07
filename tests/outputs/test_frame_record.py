"""FrameRecord: validation, .npz round trip, file stems and discovery."""

from __future__ import annotations

import math

import numpy as np
import pytest

from egohmr.outputs.frame_record import (
    MAX_STEM_CHARS,
    FrameRecord,
    find_frame_records,
    frame_stem,
    load_frame_record,
    save_frame_record,
)
from tests.outputs.helpers import make_record


def _assert_same(a: FrameRecord, b: FrameRecord) -> None:
    assert a.name == b.name
    assert a.intrinsics_px == b.intrinsics_px and a.bbox_px == b.bbox_px
    for key in ("scene_points_pv", "pred_vertices_pv", "faces", "image", "gt_vertices_pv", "joint_visible"):
        x, y = getattr(a, key), getattr(b, key)
        assert (x is None) == (y is None), key
        if x is not None:
            assert x.dtype == y.dtype and np.array_equal(x, y), key
    assert a.metrics.keys() == b.metrics.keys()
    for k, v in a.metrics.items():
        assert (math.isnan(v) and math.isnan(b.metrics[k])) or v == b.metrics[k]


def test_round_trip(tmp_path):
    rec = make_record(num_samples=4)
    path = save_frame_record(tmp_path / "frames" / "a.npz", rec)
    back = load_frame_record(path)
    _assert_same(rec, back)
    assert back.num_samples == 4 and back.pred_vertices_pv.shape == (4, 32, 3)
    assert back.pred_vertices_pv.dtype == np.float32 and back.faces.dtype == np.int32
    assert math.isnan(back.metrics["collision_ratio"])  # NaN survives (stored as JSON null)
    assert not list(tmp_path.glob("frames/.*tmp"))  # no temporary file left behind


def test_round_trip_image_path_only_and_no_gt(tmp_path):
    from PIL import Image

    rec = make_record(with_gt=False)
    Image.fromarray(rec.image).save(tmp_path / "img.png")
    rec2 = FrameRecord(
        name=rec.name,
        intrinsics_px=rec.intrinsics_px,
        bbox_px=rec.bbox_px,
        scene_points_pv=rec.scene_points_pv,
        pred_vertices_pv=rec.pred_vertices_pv,
        faces=rec.faces,
        image_path="img.png",
    )
    path = save_frame_record(tmp_path / "r.npz", rec2, embed_image=False)
    back = load_frame_record(path)
    assert back.image is None and back.gt_vertices_pv is None and back.metrics is None
    assert np.array_equal(back.load_image(base_dir=tmp_path), rec.image)
    with pytest.raises(FileNotFoundError, match="img.png"):
        back.load_image(base_dir=tmp_path / "elsewhere")


@pytest.mark.parametrize(
    ("field", "value", "match"),
    [
        ("bbox_px", (10, 10, 5, 20), "bbox_px"),
        ("intrinsics_px", (0, 200, 10, 10), "intrinsics_px"),
        ("gt_vertices_pv", np.zeros((5, 3)), "gt_vertices_pv"),
        ("pred_vertices_pv", np.zeros((32, 3)), "pred_vertices_pv"),
        ("scene_points_pv", np.full((2, 3), np.nan), "scene_points_pv"),
        ("faces", np.array([[0, 1, 99]]), "faces"),
        ("image", np.zeros((4, 4), np.uint8), "image"),
    ],
)
def test_validation_names_the_field(field, value, match):
    rec = make_record()
    kwargs = {k: getattr(rec, k) for k in rec.__dataclass_fields__}
    kwargs[field] = value
    with pytest.raises(ValueError, match=match):
        FrameRecord(**kwargs)


def test_load_errors(tmp_path):
    with pytest.raises(FileNotFoundError):
        load_frame_record(tmp_path / "missing.npz")
    np.savez(tmp_path / "other.npz", x=np.zeros(3))
    with pytest.raises(ValueError, match="not a frame record"):
        load_frame_record(tmp_path / "other.npz")


def test_stems_and_discovery(tmp_path):
    assert frame_stem("rec_01/PV/132_frame_00042.jpg") == "rec_01_PV_132_frame_00042"
    assert frame_stem("a b<c>.png", index=7) == "0007_a_b_c"
    assert frame_stem("///") == "frame"
    assert find_frame_records(tmp_path) == []
    for stem in ("0001_b", "0000_a"):
        save_frame_record(tmp_path / "frames" / f"{stem}.npz", make_record())
    assert [p.stem for p in find_frame_records(tmp_path)] == ["0000_a", "0001_b"]


def test_frame_stem_keeps_the_whole_recording_name():
    name = "egocentric_color/recording_20210907_S02_S01_01/2021-09-07-155421/PV/132754097133_frame_01234.jpg"
    stem = frame_stem(name, index=0)
    assert stem == "0000_recording_20210907_S02_S01_01_2021-09-07-155421_PV_132754097133_frame_01234"
    assert len(stem) <= len("0000_") + MAX_STEM_CHARS
