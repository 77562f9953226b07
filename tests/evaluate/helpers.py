"""Small hand-made meshes, bodies and datasets for the evaluation tests."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from egohmr.constants import NUM_SMPL_JOINTS, SMPL_PARENTS


def box_mesh(low=(-0.5, -0.5, -0.5), high=(0.5, 0.5, 0.5)) -> tuple[np.ndarray, np.ndarray]:
    """Closed axis-aligned box: vertices (8, 3), outward-oriented faces (12, 3)."""
    lo, hi = np.asarray(low, dtype=np.float64), np.asarray(high, dtype=np.float64)
    corners = np.array([[x, y, z] for x in (0, 1) for y in (0, 1) for z in (0, 1)], dtype=np.float64)
    vertices = lo + corners * (hi - lo)
    # index = 4x + 2y + z
    faces = np.array(
        [
            [0, 1, 3], [0, 3, 2],  # x = 0, normal -x
            [4, 6, 7], [4, 7, 5],  # x = 1, normal +x
            [0, 4, 5], [0, 5, 1],  # y = 0, normal -y
            [2, 3, 7], [2, 7, 6],  # y = 1, normal +y
            [0, 2, 6], [0, 6, 4],  # z = 0, normal -z
            [1, 5, 7], [1, 7, 3],  # z = 1, normal +z
        ],
        dtype=np.int64,
    )  # fmt: skip
    return vertices, faces


def tetra_mesh() -> tuple[np.ndarray, np.ndarray]:
    """Closed tetrahedron with corners at the origin and the unit axes; outward faces."""
    vertices = np.array([[0, 0, 0], [1, 0, 0], [0, 1, 0], [0, 0, 1]], dtype=np.float64)
    faces = np.array([[0, 2, 1], [0, 1, 3], [0, 3, 2], [1, 2, 3]], dtype=np.int64)
    return vertices, faces


def tiny_body_arrays(rng: np.random.Generator) -> dict[str, np.ndarray]:
    """A tiny random SMPL-format body (a closed ellipsoid-like mesh of 42 vertices), metres."""
    import trimesh

    sphere = trimesh.creation.icosphere(subdivisions=1)
    v_template = np.asarray(sphere.vertices) * np.array([0.25, 0.8, 0.15])
    num_vertices = v_template.shape[0]
    j_regressor = np.zeros((NUM_SMPL_JOINTS, num_vertices))
    for j in range(NUM_SMPL_JOINTS):
        j_regressor[j, rng.choice(num_vertices, size=4, replace=False)] = 0.25
    weights = rng.random((num_vertices, NUM_SMPL_JOINTS)) ** 4
    weights /= weights.sum(axis=1, keepdims=True)
    kintree = np.stack([np.array(SMPL_PARENTS), np.arange(NUM_SMPL_JOINTS)])
    kintree[0, 0] = 0
    return {
        "v_template": v_template,
        "shapedirs": 0.01 * rng.normal(size=(num_vertices, 3, 10)),
        "posedirs": 0.001 * rng.normal(size=(num_vertices, 3, 207)),
        "J_regressor": j_regressor,
        "weights": weights,
        "kintree_table": kintree,
        "f": np.asarray(sphere.faces, dtype=np.int64),
        "landmark_vertex_ids": np.arange(11),
    }


def write_tiny_body(path: Path, rng: np.random.Generator) -> Path:
    """Save a tiny random body as an SMPL-format npz readable by `load_body_model(path, gender)`."""
    from egohmr.body import save_body_model_npz

    return save_body_model_npz(path, tiny_body_arrays(rng))


def imgnames(num_frames: int) -> list[str]:
    """EgoBody-style image names of one recording."""
    return [
        f"egocentric_color/recording_20210907_S02_S01_01/2021-09-07-155421/PV/{132754600000 + i}_frame_{i:05d}.jpg"
        for i in range(num_frames)
    ]


def write_annotation(path: Path, rng: np.random.Generator, num_frames: int) -> dict[str, np.ndarray]:
    """Write a tiny annotation npz (official field names) with bodies about 3 m in front of the camera."""
    fields = {
        "imgname": np.asarray(imgnames(num_frames)),
        "pose": 0.2 * rng.normal(size=(num_frames, 69)),
        "shape": rng.normal(size=(num_frames, 10)),
        "global_orient_pv": np.tile([np.pi, 0.0, 0.0], (num_frames, 1)) + 0.1 * rng.normal(size=(num_frames, 3)),
        "transl_pv": np.stack(
            [rng.uniform(-0.3, 0.3, num_frames), rng.uniform(-0.2, 0.2, num_frames), rng.uniform(2.5, 3.5, num_frames)],
            axis=1,
        ),
        "fx": np.full(num_frames, 1450.0),
        "fy": np.full(num_frames, 1450.0),
        "cx": np.full(num_frames, 960.0),
        "cy": np.full(num_frames, 540.0),
        "gender": np.asarray(["m" if i % 2 else "f" for i in range(num_frames)]),
        "valid_keypoints": np.zeros((num_frames, 25, 3)),
    }
    # Frame 0: push the body partly out of the image (truncation).
    fields["transl_pv"][0] = [1.2, 0.0, 2.0]
    path.parent.mkdir(parents=True, exist_ok=True)
    np.savez(path, **fields)
    return fields
