"""Procedural indoor rooms made of boxes, in a y-up scene frame (metres, floor at y = 0).

A room is a tiled floor, four walls, a ceiling and furniture (chairs, sofas, beds, tables, desks, shelves,
cabinets) placed against the walls or around a table without overlapping. Seats and table tops are recorded so the
interactee can be placed on them. Furniture yaw ``θ`` means the piece faces ``(sin θ, 0, cos θ)`` (the direction a
person sitting on it looks), the convention of a body whose global orientation is a rotation by ``θ`` about y.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

PALETTE_WOOD = ((0.55, 0.38, 0.22), (0.70, 0.55, 0.35), (0.40, 0.27, 0.16), (0.82, 0.72, 0.55))
PALETTE_FABRIC = ((0.25, 0.35, 0.55), (0.55, 0.22, 0.20), (0.30, 0.45, 0.30), (0.45, 0.45, 0.48), (0.62, 0.52, 0.35))
PALETTE_WALL = ((0.86, 0.84, 0.78), (0.78, 0.82, 0.86), (0.88, 0.80, 0.70), (0.80, 0.86, 0.78))
PALETTE_FLOOR = ((0.60, 0.50, 0.40), (0.50, 0.50, 0.52), (0.68, 0.60, 0.48), (0.40, 0.33, 0.28))


def yaw_matrix(yaw: float) -> np.ndarray:
    """(3, 3) rotation by ``yaw`` radians about +y: maps local +z to ``(sin yaw, 0, cos yaw)``."""
    c, s = np.cos(yaw), np.sin(yaw)
    return np.array([[c, 0.0, s], [0.0, 1.0, 0.0], [-s, 0.0, c]])


@dataclass(frozen=True)
class Box:
    """An oriented box: ``center`` (3,) and full ``size`` (3,) in metres, ``yaw`` about +y, RGB ``color``."""

    center: tuple[float, float, float]
    size: tuple[float, float, float]
    yaw: float
    color: tuple[float, float, float]
    kind: str = "furniture"


@dataclass(frozen=True)
class Seat:
    """A sitting surface: top centre (3,) in scene metres, facing yaw, width (lateral) and depth, furniture kind."""

    top_center: tuple[float, float, float]
    yaw: float
    width: float
    depth: float
    kind: str


@dataclass(frozen=True)
class TableTop:
    """A table top a person can lean on: top centre (3,), yaw, size (x, z) in metres."""

    top_center: tuple[float, float, float]
    yaw: float
    size: tuple[float, float]


@dataclass
class Room:
    """A generated room. ``size = (width_x, height_y, depth_z)``; the floor spans [0, width] x [0, depth]."""

    name: str
    size: tuple[float, float, float]
    boxes: list[Box] = field(default_factory=list)  # furniture only
    seats: list[Seat] = field(default_factory=list)
    tables: list[TableTop] = field(default_factory=list)
    shell_vertices: np.ndarray | None = None  # floor tiles, walls, ceiling: (V, 3)
    shell_faces: np.ndarray | None = None
    shell_colors: np.ndarray | None = None

    def footprints(self) -> np.ndarray:
        """(N, 4) axis-aligned xz bounds ``[xmin, zmin, xmax, zmax]`` of every furniture box."""
        out = []
        for b in self.boxes:
            R = yaw_matrix(b.yaw)
            half = np.abs(R[[0, 2]][:, [0, 2]]) @ (np.array(b.size)[[0, 2]] / 2)
            c = np.array(b.center)[[0, 2]]
            out.append(np.concatenate([c - half, c + half]))
        return np.array(out).reshape(-1, 4)

    def mesh(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """The whole scene as one mesh: vertices (V, 3) float64, faces (F, 3) int64, colours (V, 3) float32."""
        vs, fs, cs = [self.shell_vertices], [self.shell_faces], [self.shell_colors]
        offset = len(self.shell_vertices)
        for b in self.boxes:
            v, f = box_mesh(b)
            vs.append(v)
            fs.append(f + offset)
            cs.append(np.broadcast_to(np.array(b.color, np.float32), v.shape))
            offset += len(v)
        return np.concatenate(vs), np.concatenate(fs).astype(np.int64), np.concatenate(cs).astype(np.float32)


_UNIT_CUBE_FACES = (  # (normal axis, sign): four corners per face in counter-clockwise order seen from outside
    ((0, 4, 6, 2), (1, 3, 7, 5), (0, 1, 5, 4), (2, 6, 7, 3), (0, 2, 3, 1), (4, 5, 7, 6))
)


def box_mesh(box: Box) -> tuple[np.ndarray, np.ndarray]:
    """24 vertices (4 per side, so normals are per side) and 12 triangles of a box."""
    corners = np.array([[x, y, z] for x in (-0.5, 0.5) for y in (-0.5, 0.5) for z in (-0.5, 0.5)])
    corners = corners * np.array(box.size)
    corners = corners @ yaw_matrix(box.yaw).T + np.array(box.center)
    verts, faces = [], []
    for quad in _UNIT_CUBE_FACES:
        base = len(verts)
        verts.extend(corners[list(quad)])
        faces += [(base, base + 1, base + 2), (base, base + 2, base + 3)]
    return np.array(verts), np.array(faces, dtype=np.int64)


def _quad(p0, p1, p2, p3):
    return np.array([p0, p1, p2, p3], float), np.array([(0, 1, 2), (0, 2, 3)])


def _shell(width: float, height: float, depth: float, rng: np.random.Generator):
    """Tiled floor, walls (slightly different tints) and ceiling."""
    verts, faces, colors = [], [], []

    def add(v, f, c):
        faces.append(f + sum(len(x) for x in verts))
        verts.append(v)
        colors.append(np.broadcast_to(np.asarray(c, np.float32), v.shape))

    tile = float(rng.choice([0.4, 0.5, 0.6]))
    fc = np.array(PALETTE_FLOOR[rng.integers(len(PALETTE_FLOOR))])
    fc2 = fc * rng.uniform(0.75, 0.9)
    nx, nz = int(np.ceil(width / tile)), int(np.ceil(depth / tile))
    for i in range(nx):
        for k in range(nz):
            x0, x1 = i * tile, min((i + 1) * tile, width)
            z0, z1 = k * tile, min((k + 1) * tile, depth)
            v, f = _quad((x0, 0, z0), (x1, 0, z0), (x1, 0, z1), (x0, 0, z1))
            add(v, f, fc if (i + k) % 2 == 0 else fc2)
    wc = np.array(PALETTE_WALL[rng.integers(len(PALETTE_WALL))])
    H = height
    walls = [
        ((0, 0, 0), (width, 0, 0), (width, H, 0), (0, H, 0)),
        ((0, 0, depth), (width, 0, depth), (width, H, depth), (0, H, depth)),
        ((0, 0, 0), (0, 0, depth), (0, H, depth), (0, H, 0)),
        ((width, 0, 0), (width, 0, depth), (width, H, depth), (width, H, 0)),
    ]
    for j, w in enumerate(walls):
        v, f = _quad(*w)
        add(v, f, np.clip(wc * (0.92 + 0.05 * j), 0, 1))
        # a skirting board strip and a darker band make walls less uniform
        p0, p1 = np.array(w[0], float), np.array(w[1], float)
        v, f = _quad(p0, p1, p1 + (0, 0.1, 0), p0 + (0, 0.1, 0))
        inward = np.array([width / 2, 0, depth / 2]) - (p0 + p1) / 2
        inward[1] = 0
        v = v + 0.005 * inward / np.linalg.norm(inward)
        add(v, f, (0.95, 0.95, 0.93))
    v, f = _quad((0, H, 0), (width, H, 0), (width, H, depth), (0, H, depth))
    add(v, f, (0.93, 0.93, 0.92))
    return np.concatenate(verts), np.concatenate(faces), np.concatenate(colors)


# ------------------------------------------------------------------------------------------------ furniture
def _pick(rng: np.random.Generator, palette) -> tuple[float, float, float]:
    c = np.array(palette[rng.integers(len(palette))]) * rng.uniform(0.85, 1.1)
    return tuple(float(x) for x in np.clip(c, 0, 1))


def _local(center_xz, yaw, offset) -> tuple[float, float, float]:
    p = yaw_matrix(yaw) @ np.asarray(offset, float)
    return (float(center_xz[0] + p[0]), float(p[1]), float(center_xz[1] + p[2]))


def _top_on_legs(
    center_xz,
    yaw,
    size: tuple[float, float, float],
    top_t: float,
    leg_side: float,
    leg_inset: float,
    top_color,
    leg_color,
    top_kind: str,
) -> list[Box]:
    """A top slab of thickness ``top_t`` whose upper face is at height ``h``, on four square legs ``leg_inset`` in
    from the corners; ``size = (w, h, d)`` metres."""
    w, h, d = size
    top = Box(_local(center_xz, yaw, (0, h - top_t / 2, 0)), (w, top_t, d), yaw, top_color, top_kind)
    legs = [
        Box(
            _local(center_xz, yaw, (sx * (w / 2 - leg_inset), (h - top_t) / 2, sz * (d / 2 - leg_inset))),
            (leg_side, h - top_t, leg_side),
            yaw,
            leg_color,
        )
        for sx in (-1, 1)
        for sz in (-1, 1)
    ]
    return [top, *legs]


def make_chair(center_xz, yaw, rng) -> tuple[list[Box], list[Seat], tuple[float, float]]:
    """Chair with 4 legs and a backrest; returns boxes, seats and the footprint (width, depth)."""
    w, d = rng.uniform(0.42, 0.5), rng.uniform(0.42, 0.5)
    h = rng.uniform(0.43, 0.50)
    wood, fabric = _pick(rng, PALETTE_WOOD), _pick(rng, PALETTE_FABRIC)
    boxes = _top_on_legs(center_xz, yaw, (w, h, d), 0.05, 0.04, 0.03, fabric, wood, "seat")
    back_h = rng.uniform(0.4, 0.5)
    boxes.append(Box(_local(center_xz, yaw, (0, h + back_h / 2, -d / 2 + 0.02)), (w, back_h, 0.04), yaw, wood, "back"))
    seat = Seat(_local(center_xz, yaw, (0, h, 0.02)), yaw, w, d - 0.04, "chair")
    return boxes, [seat], (w, d)


def make_sofa(center_xz, yaw, rng):
    w, d = rng.uniform(1.5, 2.2), rng.uniform(0.85, 0.95)
    h = rng.uniform(0.40, 0.46)
    fabric = _pick(rng, PALETTE_FABRIC)
    back_t, arm_w = 0.2, 0.18
    darker = tuple(float(c * 0.85) for c in fabric)
    boxes = [
        Box(_local(center_xz, yaw, (0, h / 2, 0.0)), (w, h, d), yaw, fabric, "seat"),
        Box(_local(center_xz, yaw, (0, h + 0.2, -d / 2 + back_t / 2)), (w, 0.4, back_t), yaw, darker, "back"),
        Box(_local(center_xz, yaw, (-w / 2 + arm_w / 2, h + 0.1, back_t / 2)), (arm_w, 0.2, d - back_t), yaw, darker),
        Box(_local(center_xz, yaw, (w / 2 - arm_w / 2, h + 0.1, back_t / 2)), (arm_w, 0.2, d - back_t), yaw, darker),
    ]
    inner_w = w - 2 * arm_w
    seats = []
    n = 2 if inner_w < 1.3 else 3
    for i in range(n):
        lx = -inner_w / 2 + inner_w * (i + 0.5) / n
        seats.append(Seat(_local(center_xz, yaw, (lx, h, back_t / 2)), yaw, inner_w / n, d - back_t, "sofa"))
    return boxes, seats, (w, d)


def make_bed(center_xz, yaw, rng):
    """Bed whose long side faces ``yaw`` (people sit on the edge of it, facing away from it)."""
    w, d = rng.uniform(1.9, 2.1), rng.uniform(1.3, 1.7)  # lateral (length of bed) x depth (width of bed)
    h = rng.uniform(0.48, 0.55)
    wood, sheet = _pick(rng, PALETTE_WOOD), _pick(rng, ((0.9, 0.9, 0.88), (0.75, 0.8, 0.9), (0.85, 0.78, 0.7)))
    boxes = [
        Box(_local(center_xz, yaw, (0, 0.15, 0)), (w, 0.3, d), yaw, wood),
        Box(_local(center_xz, yaw, (0, (0.3 + h) / 2, 0)), (w - 0.04, h - 0.3, d - 0.04), yaw, sheet, "seat"),
        Box(_local(center_xz, yaw, (-w / 2 - 0.03, 0.5, 0)), (0.06, 1.0, d), yaw, wood, "back"),
        Box(_local(center_xz, yaw, (-w / 2 + 0.3, h + 0.06, 0)), (0.4, 0.12, d * 0.8), yaw, (0.95, 0.95, 0.95)),
    ]
    seats = [Seat(_local(center_xz, yaw, (lx, h, d / 2 - 0.25)), yaw, 0.6, 0.5, "bed") for lx in (-0.1, 0.5)]
    return boxes, seats, (w + 0.06, d)


def make_table(center_xz, yaw, rng, low: bool = False):
    w, d = (rng.uniform(0.9, 1.2), rng.uniform(0.5, 0.7)) if low else (rng.uniform(1.1, 1.6), rng.uniform(0.7, 0.9))
    h = rng.uniform(0.40, 0.46) if low else rng.uniform(0.72, 0.76)
    wood = _pick(rng, PALETTE_WOOD)
    boxes = _top_on_legs(center_xz, yaw, (w, h, d), 0.04, 0.05, 0.05, wood, wood, "table")
    return boxes, [], (w, d)  # table tops are recorded by the layout (coffee tables are not leaned on)


def make_shelf(center_xz, yaw, rng):
    w, d, h = rng.uniform(0.8, 1.3), rng.uniform(0.3, 0.4), rng.uniform(1.5, 2.0)
    wood = _pick(rng, PALETTE_WOOD)
    boxes = [
        Box(_local(center_xz, yaw, (-w / 2 + 0.02, h / 2, 0)), (0.04, h, d), yaw, wood),
        Box(_local(center_xz, yaw, (w / 2 - 0.02, h / 2, 0)), (0.04, h, d), yaw, wood),
        Box(_local(center_xz, yaw, (0, h / 2, -d / 2 + 0.01)), (w, h, 0.02), yaw, tuple(c * 0.8 for c in wood)),
    ]
    n = int(rng.integers(3, 6))
    for i in range(n + 1):
        y = 0.02 + (h - 0.04) * i / n
        boxes.append(Box(_local(center_xz, yaw, (0, y, 0)), (w - 0.08, 0.03, d), yaw, wood))
        if i < n:  # books
            nb = int(rng.integers(2, 7))
            for b in range(nb):
                bw = rng.uniform(0.03, 0.08)
                bh = rng.uniform(0.15, min(0.3, (h - 0.04) / n - 0.05))
                lx = -w / 2 + 0.08 + (w - 0.2) * (b + 0.5) / nb
                boxes.append(
                    Box(
                        _local(center_xz, yaw, (lx, y + 0.015 + bh / 2, 0.0)),
                        (bw, bh, d * 0.8),
                        yaw,
                        _pick(rng, PALETTE_FABRIC),
                    )
                )
    return boxes, [], (w, d)


def make_cabinet(center_xz, yaw, rng):
    w, d, h = rng.uniform(0.6, 1.2), rng.uniform(0.4, 0.55), rng.uniform(0.7, 1.1)
    color = _pick(rng, PALETTE_WOOD + ((0.9, 0.9, 0.9),))
    boxes = [Box(_local(center_xz, yaw, (0, h / 2, 0)), (w, h, d), yaw, color)]
    boxes.append(Box(_local(center_xz, yaw, (0, h * 0.75, d / 2 + 0.005)), (w * 0.3, 0.03, 0.01), yaw, (0.2, 0.2, 0.2)))
    return boxes, [], (w, d)


# ---------------------------------------------------------------------------------------------------- layout
class _Layout:
    def __init__(self, width: float, depth: float):
        self.width, self.depth = width, depth
        self.rects: list[np.ndarray] = []

    def free(self, rect: np.ndarray, margin: float = 0.1) -> bool:
        if rect[0] < 0.02 or rect[1] < 0.02 or rect[2] > self.width - 0.02 or rect[3] > self.depth - 0.02:
            return False
        return all(
            not (
                rect[0] < r[2] + margin
                and rect[2] > r[0] - margin
                and rect[1] < r[3] + margin
                and rect[3] > r[1] - margin
            )
            for r in self.rects
        )


def _rect(center_xz, yaw, size_wd) -> np.ndarray:
    R = yaw_matrix(yaw)
    half = np.abs(R[[0, 2]][:, [0, 2]]) @ (np.asarray(size_wd, float) / 2)
    c = np.asarray(center_xz, float)
    return np.concatenate([c - half, c + half])


def _against_wall(rng, layout: _Layout, depth_m: float, width_m: float):
    """A position whose back touches a random wall and the yaw that faces into the room."""
    wall = int(rng.integers(4))
    yaw = (0.0, np.pi, np.pi / 2, -np.pi / 2)[wall]  # wall z=0 -> face +z; z=D -> -z; x=0 -> +x; x=W -> -x
    if wall < 2:
        x = rng.uniform(width_m / 2 + 0.05, layout.width - width_m / 2 - 0.05)
        z = depth_m / 2 + 0.03 if wall == 0 else layout.depth - depth_m / 2 - 0.03
    else:
        z = rng.uniform(width_m / 2 + 0.05, layout.depth - width_m / 2 - 0.05)
        x = depth_m / 2 + 0.03 if wall == 2 else layout.width - depth_m / 2 - 0.03
    return (x, z), yaw


def generate_room(name: str, rng: np.random.Generator) -> Room:
    """Generate one furnished room.

    Args:
        name: scene name (used for file names).
        rng: numpy Generator; the room is a pure function of its state.

    Returns:
        Room with at least one seat and one table top.
    """
    width, depth, height = rng.uniform(5.0, 8.0), rng.uniform(5.0, 8.0), rng.uniform(2.6, 3.0)
    room = Room(name=name, size=(float(width), float(height), float(depth)))
    room.shell_vertices, room.shell_faces, room.shell_colors = _shell(width, height, depth, rng)
    layout = _Layout(width, depth)

    def try_place(maker, n_tries=30, wall=True, center=None, yaw=None, extra_depth=0.0, **kw):
        for _ in range(n_tries):
            piece_seed = int(rng.integers(2**62))  # the piece's own draws: same size for the probe and the real one
            _, _, (w, d) = maker((0.0, 0.0), 0.0, np.random.default_rng(piece_seed), **kw)
            if wall:
                c, yw = _against_wall(rng, layout, d + extra_depth, w)
            else:
                c = center if center is not None else (rng.uniform(1.2, width - 1.2), rng.uniform(1.2, depth - 1.2))
                yw = yaw if yaw is not None else float(rng.choice([0.0, np.pi / 2]))
            boxes, seats, size = maker(c, yw, np.random.default_rng(piece_seed), **kw)
            rect = _rect(c, yw, (size[0], size[1] + extra_depth))
            if layout.free(rect):
                layout.rects.append(rect)
                room.boxes.extend(boxes)
                room.seats.extend(seats)
                return c, yw, size, boxes, seats
        return None

    # Living corner: sofa against a wall, coffee table in front of it.
    placed = try_place(make_sofa) if rng.uniform() < 0.85 else None
    if placed is not None:
        (cx, cz), yw, (w, d), _, _ = placed
        f = np.array([np.sin(yw), np.cos(yw)])
        tc = np.array([cx, cz]) + f * (d / 2 + 0.7)
        try_place(make_table, n_tries=1, wall=False, center=tuple(tc), yaw=yw, low=True)
    if rng.uniform() < 0.5:
        try_place(make_bed)
    # Dining table with chairs around it.
    for _ in range(10):
        placed = try_place(make_table, n_tries=1, wall=False)
        if placed is None:
            continue
        (cx, cz), yw, (w, d), boxes, _ = placed
        room.tables.append(TableTop((cx, boxes[0].center[1] + 0.02, cz), yw, (w, d)))
        f = np.array([np.sin(yw), np.cos(yw)])
        s = np.array([np.cos(yw), -np.sin(yw)])
        slots = [(f, d / 2 + 0.38), (-f, d / 2 + 0.38), (s, w / 2 + 0.38), (-s, w / 2 + 0.38)]
        n_chairs = int(rng.integers(2, 5))
        for k in rng.permutation(4)[:n_chairs]:
            direction, dist = slots[k]
            pos = np.array([cx, cz]) + direction * dist
            chair_yaw = float(np.arctan2(-direction[0], -direction[1]) + rng.uniform(-0.15, 0.15))
            try_place(make_chair, n_tries=1, wall=False, center=tuple(pos), yaw=chair_yaw)
        break
    # Desk against a wall with a chair facing it.
    placed = try_place(make_table) if rng.uniform() < 0.6 else None
    if placed is not None:
        (cx, cz), yw, (w, d), boxes, _ = placed
        room.tables.append(TableTop((cx, boxes[0].center[1] + 0.02, cz), yw, (w, d)))
        f = np.array([np.sin(yw), np.cos(yw)])
        pos = np.array([cx, cz]) + f * (d / 2 + 0.35)
        try_place(make_chair, n_tries=1, wall=False, center=tuple(pos), yaw=float(yw + np.pi + rng.uniform(-0.3, 0.3)))
    for _ in range(int(rng.integers(1, 4))):
        try_place(make_shelf if rng.uniform() < 0.6 else make_cabinet)
    for _ in range(int(rng.integers(0, 3))):
        try_place(make_chair)
    if not room.seats:
        try_place(make_chair, n_tries=200)
    if not room.seats:  # pragma: no cover - a 5x5 m room always has space
        raise RuntimeError(f"room {name}: could not place a seat")
    return room
