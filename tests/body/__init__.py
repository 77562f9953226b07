"""Tests of the body-model layer, plus a tiny random SMPL-format body for any test that needs one.

Use ``random_body_arrays(rng)`` (file-layout numpy arrays) or ``random_body_model(rng)`` (a BodyModel) instead of real
SMPL files, e.g. ``from tests.body import random_body_model``.
"""

from __future__ import annotations

import numpy as np

from egohmr.constants import LANDMARK_NAMES, SMPL_PARENTS

# Rough SMPL rest-joint offsets from the parent (metres, SMPL local frame: y-up, facing +z).
_OFFSETS = np.array(
    [
        [0.0, 0.9, 0.0], [0.06, -0.09, 0.0], [-0.06, -0.09, 0.0], [0.0, 0.11, -0.02], [0.04, -0.38, 0.0],
        [-0.04, -0.38, 0.0], [0.0, 0.14, 0.0], [-0.01, -0.4, -0.04], [0.01, -0.4, -0.04], [0.0, 0.05, 0.02],
        [0.02, -0.05, 0.12], [-0.02, -0.05, 0.12], [0.0, 0.22, -0.03], [0.08, 0.12, -0.02], [-0.08, 0.12, -0.02],
        [0.0, 0.09, 0.05], [0.1, 0.03, 0.0], [-0.1, 0.03, 0.0], [0.26, -0.01, -0.02], [-0.26, -0.01, -0.02],
        [0.25, 0.01, 0.0], [-0.25, 0.01, 0.0], [0.08, -0.01, -0.01], [-0.08, -0.01, -0.01],
    ]
)  # fmt: skip


def random_body_arrays(rng: np.random.Generator, num_vertices: int = 240, num_betas: int = 10) -> dict:
    """A small random SMPL-format body in file layout (keys as in an SMPL .pkl plus ``landmark_vertex_ids``).

    Each vertex is attached to one "home" joint (10 vertices per joint at least) and skinned to it and its parent;
    posedirs are small random values; J_regressor rows average the home vertices of each joint.
    """
    J = len(SMPL_PARENTS)
    rest_joints = np.zeros((J, 3))
    for j, p in enumerate(SMPL_PARENTS):
        rest_joints[j] = _OFFSETS[j] + (rest_joints[p] if p >= 0 else 0.0)
    home = np.concatenate([np.arange(J).repeat(10), rng.integers(0, J, num_vertices - 10 * J)])
    v_template = rest_joints[home] + rng.normal(0.0, 0.03, (num_vertices, 3))
    weights = np.zeros((num_vertices, J))
    w_home = rng.uniform(0.6, 1.0, num_vertices)
    weights[np.arange(num_vertices), home] = w_home
    parent_of_home = np.array([max(SMPL_PARENTS[h], 0) for h in home])
    weights[np.arange(num_vertices), parent_of_home] += 1.0 - w_home
    j_regressor = np.zeros((J, num_vertices))
    for j in range(J):
        ids = np.flatnonzero(home == j)
        j_regressor[j, ids] = 1.0 / len(ids)
    faces = rng.integers(0, num_vertices, (2 * num_vertices, 3))
    kintree = np.stack([np.array(SMPL_PARENTS, dtype=np.int64), np.arange(J)])
    kintree[0, 0] = 4294967295
    return {
        "v_template": v_template.astype(np.float32),
        "shapedirs": rng.normal(0.0, 0.01, (num_vertices, 3, num_betas)).astype(np.float32),
        "posedirs": rng.normal(0.0, 0.002, (num_vertices, 3, 9 * (J - 1))).astype(np.float32),
        "J_regressor": j_regressor.astype(np.float32),
        "weights": weights.astype(np.float32),
        "kintree_table": kintree,
        "f": faces.astype(np.uint32),
        "landmark_vertex_ids": np.arange(len(LANDMARK_NAMES), dtype=np.int64) * 7,
    }


def random_body_model(rng: np.random.Generator, num_vertices: int = 240, num_betas: int = 10):
    """A BodyModel built from :func:`random_body_arrays`."""
    from egohmr.body.model import BodyModel

    a = random_body_arrays(rng, num_vertices, num_betas)
    return BodyModel(
        v_template=a["v_template"],
        shapedirs=a["shapedirs"],
        posedirs=a["posedirs"],
        j_regressor=a["J_regressor"],
        lbs_weights=a["weights"],
        parents=a["kintree_table"][0].astype(np.int64),
        faces=a["f"],
        landmark_vertex_ids=a["landmark_vertex_ids"],
    )
