"""Scene files -> points: scans' vertices, surface sampling density and the refused files."""

from __future__ import annotations

import numpy as np
import pytest

from egohmr.recordings.scene import SURFACE_DENSITY_PER_M2, load_scene, sample_surface
from tests.recordings.helpers import write_obj

FLOOR_V = np.array([[-5, 0, -5], [5, 0, -5], [5, 0, 5], [-5, 0, 5]], dtype=np.float64)
FLOOR_F = np.array([[0, 2, 1], [0, 3, 2]])
CUBE_HALF_M = 1.0  # the stage-2 crop: 2 m x 2 m around the body
CUBE_POINTS = 20_000  # points the stage-2 crop keeps (official num_scene_points_file)


def test_big_quad_floor_gives_dense_points_near_any_person(tmp_path):
    scene = load_scene(write_obj(tmp_path / "floor.obj", FLOOR_V, FLOOR_F), np.random.default_rng(0))
    pts = scene.points_scene
    assert scene.kind == "mesh" and scene.surface_area_m2 == pytest.approx(100.0)
    assert len(pts) == 100 * SURFACE_DENSITY_PER_M2
    assert np.abs(pts[:, 1]).max() < 0.01  # on the floor
    assert np.all(np.abs(pts[:, [0, 2]]) <= 5 + 1e-9)  # inside the quad
    for x, z in np.random.default_rng(1).uniform(-4, 4, (4, 2)):
        near = pts[(np.abs(pts[:, 0] - x) <= CUBE_HALF_M) & (np.abs(pts[:, 2] - z) <= CUBE_HALF_M)]
        assert len(near) >= CUBE_POINTS  # the stage-2 crop needs no repeated point
        assert np.hypot(near[:, 0] - x, near[:, 2] - z).min() < 0.03


def test_a_scan_is_its_vertices_in_file_order(tmp_path):
    """A mesh with no edge over 5 cm (EgoBody's scans, synth's rooms) gives the vertices `egohmr preprocess` reads."""
    from egohmr.data.scene_points import read_obj_vertices
    from egohmr.synth.writer import tessellate

    v, f, _ = tessellate(FLOOR_V * 0.1, FLOOR_F, None, max_edge_m=0.05)  # a 1 m x 1 m floor, 5 cm edges
    path = write_obj(tmp_path / "scan.obj", v, f)
    scene = load_scene(path, np.random.default_rng(0))
    assert scene.kind == "mesh" and not scene.surface_sampled
    np.testing.assert_array_equal(scene.points_scene, read_obj_vertices(path))
    coarse = load_scene(write_obj(tmp_path / "coarse.obj", FLOOR_V * 0.1, FLOOR_F), np.random.default_rng(0))
    assert coarse.surface_sampled and len(coarse.points_scene) == SURFACE_DENSITY_PER_M2


def test_sampling_is_area_weighted_and_seeded():
    v = np.array([[0, 0, 0], [1, 0, 0], [0, 1, 0], [0, 0, 3], [2, 0, 3], [0, 3, 3]], dtype=np.float64)
    f = np.array([[0, 1, 2], [3, 4, 5]])  # areas 0.5 and 3
    pts = sample_surface(v, f, 70_000, np.random.default_rng(0))
    assert np.mean(pts[:, 2] == 3) == pytest.approx(3 / 3.5, abs=0.01)
    first = pts[pts[:, 2] == 0]
    assert np.all(first[:, 0] + first[:, 1] <= 1 + 1e-12) and np.all(first[:, :2] >= 0)
    np.testing.assert_array_equal(pts, sample_surface(v, f, 70_000, np.random.default_rng(0)))


def test_point_clouds_are_taken_as_they_are(tmp_path):
    cloud = np.random.default_rng(0).uniform(-2, 2, (500, 3))
    np.save(tmp_path / "cloud.npy", cloud)
    np.savez(tmp_path / "cloud.npz", points=cloud)
    write_obj(tmp_path / "cloud.obj", cloud)  # vertices without faces
    for name in ("cloud.npy", "cloud.npz", "cloud.obj"):
        scene = load_scene(tmp_path / name, np.random.default_rng(0))
        assert scene.kind == "points"
        np.testing.assert_allclose(scene.points_scene, cloud, atol=1e-9)


def test_bad_scene_files_are_refused_with_the_file_named(tmp_path):
    rng = np.random.default_rng(0)
    mm = write_obj(tmp_path / "room_mm.obj", FLOOR_V * 1000, FLOOR_F)
    with pytest.raises(ValueError, match=r"room_mm\.obj.*millimetres.*divide the coordinates by 1000"):
        load_scene(mm, rng)
    empty = tmp_path / "empty.obj"
    empty.write_text("# no geometry\n")
    with pytest.raises(ValueError, match=r"empty\.obj is empty \(no vertices"):
        load_scene(empty, rng)
    zero = tmp_path / "zero.ply"
    zero.write_bytes(b"")
    with pytest.raises(ValueError, match=r"zero\.ply is empty \(0 bytes\)"):
        load_scene(zero, rng)
    nan = FLOOR_V.copy()
    nan[1, 0] = np.nan
    with pytest.raises(ValueError, match=r"nan\.obj: 1 of 4 vertices contain NaN"):
        load_scene(write_obj(tmp_path / "nan.obj", nan, FLOOR_F), rng)
    flat = write_obj(tmp_path / "flat.obj", np.zeros((3, 3)), np.array([[0, 1, 2]]))
    with pytest.raises(ValueError, match=r"flat\.obj.*zero total area"):
        load_scene(flat, rng)
    with pytest.raises(FileNotFoundError, match="missing.obj"):
        load_scene(tmp_path / "missing.obj", rng)
