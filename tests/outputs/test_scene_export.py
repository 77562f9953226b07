"""The .glb export: loads with trimesh, named nodes, vertex counts, y-up axes, colours."""

from __future__ import annotations

import numpy as np
import pytest
import trimesh

from egohmr.outputs.frame_record import FrameRecord
from egohmr.outputs.palette import GT_RGB, MODE_RGB
from egohmr.outputs.scene_export import export_glb, pv_to_gltf
from tests.outputs.helpers import box_mesh, make_record


def _load(path):
    scene = trimesh.load(path, file_type="glb", process=False)
    assert isinstance(scene, trimesh.Scene)
    return scene


def test_glb_holds_the_expected_meshes(tmp_path):
    rec = make_record(num_samples=3)
    path = export_glb(rec, tmp_path / "sub" / "f.glb")
    scene = _load(path)
    geoms = scene.geometry
    assert set(geoms) == {"scene_points", "pv_camera", "gt_body", "sample_00_mode", "sample_01", "sample_02"}
    assert set(scene.graph.nodes_geometry) == set(geoms)
    assert isinstance(geoms["scene_points"], trimesh.PointCloud)
    assert len(geoms["scene_points"].vertices) == len(rec.scene_points_pv)
    for name in ("gt_body", "sample_00_mode", "sample_01", "sample_02"):
        assert len(geoms[name].vertices) == 32 and len(geoms[name].faces) == 48
    # y-up: the GT head (PV y negative) is up, in front of the viewer along -z.
    gt = np.asarray(geoms["gt_body"].vertices)
    assert np.allclose(gt, pv_to_gltf(rec.gt_vertices_pv), atol=1e-6)
    assert np.allclose(gt[:, 1], -rec.gt_vertices_pv[:, 1], atol=1e-6) and np.all(gt[:, 2] < 0)
    assert np.array_equal(geoms["gt_body"].visual.vertex_colors[0, :3], GT_RGB)
    assert np.array_equal(geoms["sample_00_mode"].visual.vertex_colors[0, :3], MODE_RGB)


def test_glb_with_scene_mesh_and_no_gt(tmp_path):
    rec = make_record(num_samples=1, with_gt=False)
    mv, mf = box_mesh((0, 1.0, 3.0), (4.0, 0.1, 4.0))
    kwargs = {k: getattr(rec, k) for k in rec.__dataclass_fields__}
    kwargs.update(scene_mesh_vertices_pv=mv, scene_mesh_faces=mf)
    scene = _load(export_glb(FrameRecord(**kwargs), tmp_path / "m.glb"))
    assert set(scene.geometry) == {"scene_mesh", "pv_camera", "sample_00_mode"}
    assert len(scene.geometry["scene_mesh"].faces) == 12


def test_gltf_axes_are_a_rotation():
    R = pv_to_gltf(np.eye(3))
    assert np.linalg.det(R) == pytest.approx(1.0)
