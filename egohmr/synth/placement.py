"""Placing the interactee in a room: a body rig, collision tests against the room boxes and per-placement solvers.

All quantities here are in the scene frame (y-up, metres, floor at y = 0). A body's global orientation is a yaw
``θ`` about +y (the body faces ``(sin θ, 0, cos θ)``), matching the furniture convention of `egohmr.synth.rooms`.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import NamedTuple

import numpy as np
import torch

from egohmr.synth.poses import PoseInstance, PoseSpec, instantiate, pose_sequence
from egohmr.synth.rooms import Box, Room, Seat, TableTop, yaw_matrix

MAX_PENETRATION_M = 0.005  # contacts may sink this deep into furniture, floor or walls


class PosedBodies(NamedTuple):
    """T posed bodies, float64 numpy, metres, in the frame of the given global orientation and translation."""

    vertices: np.ndarray  # (T, V, 3)
    joints: np.ndarray  # (T, 24, 3)
    openpose25: np.ndarray  # (T, 25, 3)
    landmarks: np.ndarray  # (T, 11, 3)


class BodyRig:
    """A body model run in float64 on numpy inputs (one thread; deterministic).

    Args:
        model: an `egohmr.body.BodyModel`.
    """

    def __init__(self, model) -> None:
        self.model = model.to(torch.float64)
        self.faces = model.faces.cpu().numpy().astype(np.int64)
        self.gender = model.gender

    def forward(
        self,
        betas: np.ndarray,
        global_orient_rotmat: np.ndarray,
        body_pose_rotmat: np.ndarray,
        transl: np.ndarray | None,
    ) -> PosedBodies:
        """Pose T bodies sharing ``betas`` (10,).

        Args:
            global_orient_rotmat: (T, 3, 3); body_pose_rotmat: (T, 23, 3, 3); transl: (T, 3) or None.
        """
        T = len(global_orient_rotmat)
        with torch.no_grad():
            out = self.model(
                torch.as_tensor(np.repeat(np.asarray(betas, float)[None], T, axis=0)),
                torch.as_tensor(np.asarray(global_orient_rotmat, float)),
                torch.as_tensor(np.asarray(body_pose_rotmat, float)),
                None if transl is None else torch.as_tensor(np.asarray(transl, float)),
            )
            op25 = out.openpose25()
        return PosedBodies(out.vertices.numpy(), out.joints.numpy(), op25.numpy(), out.landmarks.numpy())

    def rest_pelvis(self, betas: np.ndarray) -> np.ndarray:
        """(3,) pelvis joint of the shaped body in the local frame (the centre of the global rotation)."""
        eye = np.eye(3)[None]
        _, joints, _, _ = self.forward(betas, eye, np.repeat(eye[:, None], 23, axis=1), None)
        return joints[0, 0]


def box_penetration(vertices: np.ndarray, boxes: list[Box]) -> float:
    """Deepest penetration (m) of any vertex into any box (0 if none).

    Args:
        vertices: (N, 3) float scene points. boxes: oriented boxes.
    """
    if not boxes or len(vertices) == 0:
        return 0.0
    vmin, vmax = vertices.min(axis=0), vertices.max(axis=0)
    worst = 0.0
    for b in boxes:
        c = np.asarray(b.center)
        r = float(np.linalg.norm(b.size)) / 2
        if np.any(c + r < vmin) or np.any(c - r > vmax):
            continue
        local = (vertices - c) @ yaw_matrix(b.yaw)  # (N, 3) in the box frame
        depth = (np.asarray(b.size) / 2 - np.abs(local)).min(axis=1)
        if depth.max() > worst:
            worst = float(depth.max())
    return worst


def room_penetration(vertices: np.ndarray, room: Room) -> float:
    """Deepest penetration (m) into furniture, the floor or the walls."""
    W, _, D = room.size
    shell = max(0.0, -vertices[:, 1].min(), -vertices[:, 0].min(), vertices[:, 0].max() - W)
    shell = max(shell, -vertices[:, 2].min(), vertices[:, 2].max() - D)
    return max(shell, box_penetration(vertices, room.boxes))


@dataclass
class BodyMotion:
    """The interactee of one recording in the scene frame.

    Attributes:
        spec_name: pose library entry. placement: its placement kind.
        global_orient_rotmat: (T, 3, 3) float64, local -> scene. body_pose_rotmat: (T, 23, 3, 3) float64.
        transl: (T, 3) float64 SMPL translation in the scene frame (pelvis_scene = R j0 ... + transl, i.e.
            ``pelvis_scene = rest_pelvis + transl``).
        support: "floor" or the furniture kind the body sits or leans on. max_penetration_m: over checked frames.
    """

    spec_name: str
    placement: str
    global_orient_rotmat: np.ndarray
    body_pose_rotmat: np.ndarray
    transl: np.ndarray
    support: str
    max_penetration_m: float


def _yaw_rotmats(yaw: np.ndarray) -> np.ndarray:
    return np.stack([yaw_matrix(float(a)) for a in np.atleast_1d(yaw)])


def _free_floor_point(rng, room: Room, margin: float = 0.45, tries: int = 200) -> np.ndarray | None:
    W, _, D = room.size
    rects = room.footprints()
    for _ in range(tries):
        p = np.array([rng.uniform(margin, W - margin), rng.uniform(margin, D - margin)])
        if len(rects) == 0 or not np.any(
            (p[0] > rects[:, 0] - margin)
            & (p[0] < rects[:, 2] + margin)
            & (p[1] > rects[:, 1] - margin)
            & (p[1] < rects[:, 3] + margin)
        ):
            return p
    return None


def _floor_transl(rig: BodyRig, betas, go, pose, pelvis_xz: np.ndarray) -> np.ndarray:
    """Translations putting each frame's lowest vertex on the floor and the pelvis at ``pelvis_xz`` (T, 2)."""
    verts, joints, _, _ = rig.forward(betas, go, pose, None)
    transl = np.zeros((len(go), 3))
    transl[:, [0, 2]] = pelvis_xz - joints[:, 0][:, [0, 2]]
    transl[:, 1] = -verts[:, :, 1].min(axis=1) + 0.001
    return transl


def _check(rig, betas, go, pose, transl, room, stride: int = 3) -> float:
    idx = np.arange(0, len(go), stride)
    verts, _, _, _ = rig.forward(betas, go[idx], pose[idx], transl[idx])
    return max(room_penetration(v[::2], room) for v in verts)


def _seat_solution(rig, betas, inst_rng, spec: PoseSpec, seat: Seat, room: Room, times, rng):
    """Seat the body: thighs on the seat top, back clear of the backrest, knee angle chosen so the feet reach
    the floor when they can."""
    yaw = seat.yaw + rng.uniform(-0.15, 0.15)
    f = np.array([np.sin(yaw), 0.0, np.cos(yaw)])
    knees = np.arange(40.0, 131.0, 10.0)
    insts = [
        instantiate(
            spec, np.random.default_rng(inst_rng), overrides={"left_knee": [("x", k)], "right_knee": [("x", k)]}
        )
        for k in knees
    ]
    go = _yaw_rotmats(np.full(len(knees), yaw))
    pose = np.stack([i.base_rotmat for i in insts])
    verts, joints, _, _ = rig.forward(betas, go, pose, None)
    top = np.asarray(seat.top_center)
    R = yaw_matrix(seat.yaw)
    best = None
    for k in range(len(knees)):
        v = verts[k]
        pelvis = joints[k, 0]
        target = top - f * (seat.depth / 2 - 0.14)
        shift = np.array([target[0] - pelvis[0], 0.0, target[2] - pelvis[2]])
        local = (v + shift - top) @ R
        on_seat = (
            (np.abs(local[:, 0]) < seat.width / 2) & (np.abs(local[:, 2]) < seat.depth / 2) & (v[:, 1] < pelvis[1])
        )
        if not np.any(on_seat):
            continue
        shift[1] = top[1] + 0.003 - v[on_seat, 1].min()
        for _ in range(12):  # push forward out of the backrest
            if room_penetration(v[::2] + shift, room) <= MAX_PENETRATION_M:
                break
            shift += 0.02 * f
        pen = room_penetration(v[::2] + shift, room)
        feet = (v + shift)[:, 1].min()
        score = (pen > MAX_PENETRATION_M) * 10.0 + (abs(feet) if feet >= -0.004 else 1.0 + abs(feet))
        if best is None or score < best[0]:
            best = (score, k, shift, pen)
    if best is None or best[3] > MAX_PENETRATION_M:
        return None
    _, k, shift, _ = best
    return insts[k], yaw, shift


def place_body(
    rng: np.random.Generator, rig: BodyRig, betas: np.ndarray, spec: PoseSpec, room: Room, times_s: np.ndarray
) -> BodyMotion | None:
    """Place one pose spec in the room and animate it; None if no collision-free placement was found.

    Args:
        rng: numpy Generator. rig: body rig of the interactee's gender. betas: (10,). spec: pose library entry.
        room: the scene. times_s: (T,) frame times in seconds.
    """
    T = len(times_s)
    inst_seed = int(rng.integers(2**62))
    phases = rng.uniform(0, 2 * np.pi, len(spec.motion))
    if spec.placement == "sit":
        seats = [s for s in room.seats if s.kind in spec.seat_kinds]
        if not seats:
            return None
        seat = seats[int(rng.integers(len(seats)))]
        sol = _seat_solution(rig, betas, inst_seed, spec, seat, room, times_s, rng)
        if sol is None:
            return None
        inst, yaw, shift = sol
        go = _yaw_rotmats(np.full(T, yaw))
        support = seat.kind
        for scale in (1.0, 0.5, 0.0):
            inst.motion_scale = scale
            pose = pose_sequence(inst, times_s, phases)
            transl = np.repeat(shift[None], T, axis=0)
            pen = _check(rig, betas, go, pose, transl, room)
            if pen <= 2 * MAX_PENETRATION_M:
                return BodyMotion(spec.name, spec.placement, go, pose, transl, support, pen)
        return None

    inst: PoseInstance = instantiate(spec, np.random.default_rng(inst_seed))
    if spec.placement == "lean":
        if not room.tables:
            return None
        table: TableTop = room.tables[int(rng.integers(len(room.tables)))]
        side = int(rng.integers(4))
        Rt = yaw_matrix(table.yaw)
        normal_local = [np.array([0, 0, 1.0]), np.array([0, 0, -1.0]), np.array([1.0, 0, 0]), np.array([-1.0, 0, 0])][
            side
        ]
        half = (table.size[1] if side < 2 else table.size[0]) / 2
        normal = Rt @ normal_local
        yaw0 = float(np.arctan2(-normal[0], -normal[2]))  # face the table
        go = _yaw_rotmats(np.full(T, yaw0))
        base = np.asarray(table.top_center)[[0, 2]] + normal[[0, 2]] * (half + 0.25)
        pose = pose_sequence(inst, times_s, phases)
        for _ in range(10):
            transl = _floor_transl(rig, betas, go, pose, np.repeat(base[None], T, axis=0))
            pen = _check(rig, betas, go, pose, transl, room)
            if pen <= MAX_PENETRATION_M:
                return BodyMotion(spec.name, spec.placement, go, pose, transl, "table", pen)
            base = base + normal[[0, 2]] * 0.05
        return None

    # Standing, crouching, walking: a free floor point, a yaw, floor contact in every frame.
    p = _free_floor_point(rng, room)
    if p is None:
        return None
    yaw0 = rng.uniform(-np.pi, np.pi)
    if spec.placement == "walk":
        speed = rng.uniform(0.5, 1.0)
        direction = np.array([np.sin(yaw0), np.cos(yaw0)])
        path = p[None] + (times_s - times_s.mean())[:, None] * speed * direction[None]
        yaw = np.full(T, yaw0)
    else:
        path = np.repeat(p[None], T, axis=0)
        yaw = yaw0 + np.radians(15.0) * np.sin(2 * np.pi * rng.uniform(0.05, 0.15) * times_s + rng.uniform(0, 6.3))
    go = _yaw_rotmats(yaw)
    for scale in (1.0, 0.5, 0.0):
        inst.motion_scale = scale
        pose = pose_sequence(inst, times_s, phases)
        transl = _floor_transl(rig, betas, go, pose, path)
        pen = _check(rig, betas, go, pose, transl, room)
        if pen <= MAX_PENETRATION_M:
            return BodyMotion(spec.name, spec.placement, go, pose, transl, "floor", pen)
    return None
