"""The scene of a recording as points: any mesh or point cloud that trimesh reads, or a (P, 3) .npy/.npz array.

Scans (meshes with no edge longer than `SCAN_MAX_EDGE_M`, 5 cm: EgoBody's scene scans, `egohmr synth`'s rooms) are
taken as their vertices, in file order (OBJ files read as ``egohmr preprocess`` reads them): the official scene
preprocessing samples the vertices of EgoBody's scans, so stage 1 and the stage-2 cube see the same points in
``egohmr infer`` as in ``egohmr test`` (the models were trained on such vertices), and the vertices of a mesh with
edges this short cover its surface to within 5 cm.

Other meshes are sampled on their surface, area-weighted, at `SURFACE_DENSITY_PER_M2`, so a room made of a few big quads
gives as many points as a dense scan. Why that density: the stage-2 crop is a 2 m x 2 m square around the body (up to
2 m above its lowest point, `egohmr.pipeline.inputs.stage2_cube`) and keeps 20,000 points (the official
``num_scene_points_file``), repeating points at random when fewer are inside. A bare floor gives 4 m^2 of that square:
at 10,000 points/m^2 it holds 40,000 points, twice what the crop keeps, so no point is repeated even with nothing but
floor around the person (mean spacing 1 cm; EgoBody scans are about as dense). Stage 1 draws its 20,000 points from
the whole scene in front of the camera. A 6 x 5 x 3 m room (126 m^2) becomes 1.26 M points (30 MB); scenes above
`MAX_SCENE_POINTS / density` = 500 m^2 are sampled more sparsely (noted). Point clouds are taken as they are.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import numpy as np

__all__ = [
    "MAX_SCENE_DIAGONAL_M",
    "MAX_SCENE_POINTS",
    "SCAN_MAX_EDGE_M",
    "SURFACE_DENSITY_PER_M2",
    "ScenePoints",
    "load_scene",
    "sample_surface",
]

SURFACE_DENSITY_PER_M2 = 10_000
"""Points per square metre of mesh surface (module docstring)."""
MAX_SCENE_POINTS = 5_000_000
"""Upper bound of sampled points (120 MB as float64); larger surfaces get a lower density."""
MAX_SCENE_DIAGONAL_M = 100.0
"""A bounding-box diagonal above this is taken as a scene in millimetres (or centimetres) and refused."""
SCAN_MAX_EDGE_M = 0.05
"""A mesh with no edge longer than this (plus `EDGE_ROUNDING_M`) is a scan: its vertices are its points."""
EDGE_ROUNDING_M = 1e-4
"""Slack for coordinates written with few decimals (``egohmr synth`` writes micrometres)."""
ARRAY_KEYS: tuple[str, ...] = ("points", "vertices")


@dataclass(frozen=True)
class ScenePoints:
    """Scene points in the scene file's frame.

    Attributes:
        points_scene: (P, 3) float64, metres, scene frame.
        path: the scene file.
        kind: "mesh" (surface-sampled, or a scan's vertices) or "points" (taken as is).
        surface_area_m2: mesh surface area, None for point clouds.
        density_per_m2: points per m^2 of mesh surface, None for point clouds.
        surface_sampled: True for a surface-sampled mesh, False for a scan's vertices and for point clouds.
    """

    points_scene: np.ndarray
    path: Path
    kind: Literal["mesh", "points"]
    surface_area_m2: float | None
    density_per_m2: float | None
    surface_sampled: bool = False


def sample_surface(vertices: np.ndarray, faces: np.ndarray, num_points: int, rng: np.random.Generator) -> np.ndarray:
    """Points uniformly distributed on a triangle mesh's surface (area-weighted triangle choice, then uniform
    barycentric coordinates: ``a + (1 - sqrt(r1)) (b - a) + sqrt(r1) r2 (c - a)`` is ``a + u (b - a) + v (c - a)``
    with ``u, v`` uniform on the triangle).

    Args:
        vertices: (V, 3) float. faces: (F, 3) int. num_points: P. rng: draws triangles and positions.

    Returns:
        (P, 3) float64, in the vertices' frame.
    """
    tri = np.asarray(vertices, dtype=np.float64)[np.asarray(faces, dtype=np.int64)]  # (F, 3, 3)
    area = 0.5 * np.linalg.norm(np.cross(tri[:, 1] - tri[:, 0], tri[:, 2] - tri[:, 0]), axis=1)  # (F,)
    which = rng.choice(len(tri), size=num_points, p=area / area.sum())  # (P,)
    r1 = np.sqrt(rng.random(num_points))[:, None]
    r2 = rng.random(num_points)[:, None]
    a, b, c = tri[which, 0], tri[which, 1], tri[which, 2]
    return a + (1.0 - r1) * (b - a) + r1 * r2 * (c - a)


def _read_array(path: Path) -> np.ndarray:
    if path.suffix.lower() == ".npy":
        return np.load(path, allow_pickle=False)
    with np.load(path, allow_pickle=False) as data:
        keys = [k for k in ARRAY_KEYS if k in data.files] or (data.files if len(data.files) == 1 else [])
        if not keys:
            raise ValueError(
                f"scene: {path}: expected an array 'points' or 'vertices' (or one array), got {data.files}"
            )
        return data[keys[0]]


def _read_geometry(path: Path) -> tuple[np.ndarray, np.ndarray | None]:
    """(vertices (V, 3), faces (F, 3) or None) of any file trimesh reads; scenes are flattened with their transforms."""
    import trimesh

    try:
        geom = trimesh.load(path, process=False)
    except Exception as err:  # trimesh raises many types for unreadable files
        raise ValueError(
            f"scene: {path} cannot be read as a mesh or point cloud ({type(err).__name__}: {err})"
        ) from None
    parts = geom.dump() if isinstance(geom, trimesh.Scene) else [geom]
    meshes = [g for g in parts if isinstance(g, trimesh.Trimesh) and len(g.faces)]
    if meshes:
        offsets = np.cumsum([0] + [len(m.vertices) for m in meshes])
        vertices = np.concatenate([np.asarray(m.vertices) for m in meshes])
        faces = np.concatenate([np.asarray(m.faces) + off for m, off in zip(meshes, offsets, strict=False)])
        return vertices, faces
    points = [np.asarray(g.vertices) for g in parts if hasattr(g, "vertices") and len(g.vertices)]
    return (np.concatenate(points) if points else np.zeros((0, 3))), None


def _check_vertices(vertices: np.ndarray, path: Path) -> np.ndarray:
    v = np.asarray(vertices, dtype=np.float64)
    if v.ndim != 2 or v.shape[1] != 3:
        raise ValueError(f"scene: {path}: expected (P, 3) points, got shape {v.shape}")
    if v.shape[0] == 0:
        raise ValueError(f"scene: {path} is empty (no vertices or points)")
    bad = ~np.all(np.isfinite(v), axis=1)
    if bad.any():
        raise ValueError(f"scene: {path}: {int(bad.sum())} of {v.shape[0]} vertices contain NaN or inf")
    diagonal = float(np.linalg.norm(v.max(axis=0) - v.min(axis=0)))
    if diagonal > MAX_SCENE_DIAGONAL_M:
        raise ValueError(
            f"scene: {path} spans {diagonal:.0f} units along its bounding-box diagonal (over "
            f"{MAX_SCENE_DIAGONAL_M:.0f} m if they were metres): it looks like millimetres (or centimetres). egohmr "
            "needs metres: divide the coordinates by 1000 (or 100), e.g. with trimesh: mesh.apply_scale(0.001)"
        )
    return v


def load_scene(
    path: str | Path,
    rng: np.random.Generator,
    density_per_m2: float = SURFACE_DENSITY_PER_M2,
    max_points: int = MAX_SCENE_POINTS,
) -> ScenePoints:
    """Scene points of a file (module docstring): scans' vertices, other meshes surface-sampled, point clouds as
    they are.

    Args:
        path: OBJ, PLY, GLB/GLTF, STL, OFF... (anything trimesh reads) or .npy/.npz with a (P, 3) array, metres.
        rng: draws the surface samples (not used for scans and point clouds).
        density_per_m2: mesh sampling density.
        max_points: cap on sampled points (the density is lowered for larger surfaces).

    Returns:
        ScenePoints.

    Raises:
        FileNotFoundError: no such file. ValueError: an empty (0-byte) or unreadable file, no vertices, NaN
            vertices, a mesh of zero area, or a scene larger than `MAX_SCENE_DIAGONAL_M` (millimetres).
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"scene: {path} does not exist")
    if path.stat().st_size == 0:
        raise ValueError(f"scene: {path} is empty (0 bytes)")
    if path.suffix.lower() in (".npy", ".npz"):
        points = _check_vertices(_read_array(path), path)
        return ScenePoints(points, path, "points", None, None)
    vertices, faces = _read_geometry(path)
    vertices = _check_vertices(vertices, path)
    if faces is None:
        return ScenePoints(vertices, path, "points", None, None)
    tri = vertices[faces]
    area = float(0.5 * np.linalg.norm(np.cross(tri[:, 1] - tri[:, 0], tri[:, 2] - tri[:, 0]), axis=1).sum())
    if not area > 0:
        raise ValueError(f"scene: {path}: the mesh's {len(faces)} faces have zero total area")
    longest_edge = float(np.linalg.norm(tri - np.roll(tri, 1, axis=1), axis=-1).max())
    if longest_edge <= SCAN_MAX_EDGE_M + EDGE_ROUNDING_M:
        if path.suffix.lower() == ".obj":
            from egohmr.data.scene_points import read_obj_vertices

            vertices = read_obj_vertices(path)  # file order, as the scene preprocessing reads them
        return ScenePoints(vertices, path, "mesh", area, len(vertices) / area, surface_sampled=False)
    num = max(1, min(int(max_points), math.ceil(area * float(density_per_m2))))
    points = sample_surface(vertices, faces, num, rng)
    return ScenePoints(points, path, "mesh", area, num / area, surface_sampled=True)
