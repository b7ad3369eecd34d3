"""Still scenes: a room seen by a camera, furniture, 0..6 posed people, lighting and sensor effects.

``render_scene(seed, size=(H, W))`` is the entry point (see docs/contracts.md). The pieces are
reusable: ``World.random`` builds a room, camera and props; ``place_people`` poses people in it;
``render_world`` draws a world with people (also used for sequences) and reads the ground truth
back from the part-label image.
"""
from dataclasses import dataclass, field
from typing import List, Optional

import numpy as np

from .. import deps
from ..topology import KEYPOINTS, NUM_KEYPOINTS
from . import poses as posing
from .camera import Camera
from .render import OWNERS, PART, Canvas, Look, PersonView, draw_box, _shade
from .skeleton import P, Body, forward_kinematics

D2R = np.pi / 180.0
MAX_PEOPLE = 15

# _OWN[k, part]: the pixels of that part make keypoint k visible
_OWN = np.zeros((NUM_KEYPOINTS, 16), bool)
for _k, _name in enumerate(KEYPOINTS):
    _OWN[_k, [PART[o] for o in OWNERS[_name]]] = True
_ROWS = np.arange(NUM_KEYPOINTS)
_FACE = [(KEYPOINTS.index(n), n) for n in ("nose", "l_eye", "r_eye", "l_ear", "r_ear")]


@dataclass
class SynthScene:
    """One rendered scene and its ground truth.

    image: (H, W, 3) BGR uint8. keypoints: (N, 18, 3) float32 x, y, v (v 0 = not labelled/outside,
    1 = occluded, 2 = visible; x = y = NaN where v = 0). boxes: (N, 4) float32 x0, y0, x1, y1 of each
    person's visible pixels (inclusive pixel centres). labels: (H, W) uint8 part labels
    (``person * 16 + part``, person = row + 1) when asked for. kinds: pose family per person.
    areas: (N,) visible pixel count per person (the COCO ``area``).
    """

    image: np.ndarray
    keypoints: np.ndarray
    boxes: np.ndarray
    labels: Optional[np.ndarray] = None
    kinds: List[str] = field(default_factory=list)
    areas: Optional[np.ndarray] = None

    def __len__(self):
        return int(self.keypoints.shape[0])


@dataclass
class Prop:
    """A piece of furniture: boxes drawn together. ``top`` is the height people can sit or lie on."""

    kind: str
    center: np.ndarray            # floor position (x, 0, z) of its middle
    yaw: float
    boxes: list                   # (center xyz, size xyz, colour) in world coordinates
    top: float = 0.0
    extent: tuple = (0.0, 0.0)    # half sizes along its own x and z

    def depth(self, camera):
        return float(camera.to_camera(self.center + np.array([0.0, 0.4, 0.0]))[2])


@dataclass
class Actor:
    """A person in a world: shape, clothes and a pose vector."""

    body: Body
    look: Look
    pose: np.ndarray
    kind: str = "stand"
    support: Optional[Prop] = None
    track_id: int = 0


@dataclass
class World:
    camera: Camera
    room: dict
    props: List[Prop]
    decor: list
    effects: dict

    @classmethod
    def random(cls, rng, size, ir=None, effects=True, furnish=True):
        H, W = size
        view = rng.choice(["level", "raised", "high"], p=[0.35, 0.45, 0.2])
        if view == "level":
            hc, pitch = rng.uniform(0.9, 1.6), rng.uniform(-2, 12)
        elif view == "raised":
            hc, pitch = rng.uniform(1.8, 2.6), rng.uniform(12, 32)
        else:
            hc, pitch = rng.uniform(2.4, 3.2), rng.uniform(30, 55)
        focal = W * rng.uniform(0.55, 1.05)
        cam = Camera(size, focal, hc, pitch * D2R, x=rng.uniform(-0.6, 0.6))
        room = {
            "width": rng.uniform(4.0, 8.0), "depth": rng.uniform(4.5, 10.0), "ceiling": rng.uniform(2.4, 3.0),
            "wall": _pastel(rng), "side": None, "floor": _floor_color(rng), "ceil": _pastel(rng, 200, 250),
            "floor_kind": str(rng.choice(["boards", "tiles", "plain", "carpet"])),
            "board": rng.uniform(0.1, 0.25),
        }
        room["side"] = _shade(room["wall"], rng.uniform(0.75, 0.95))
        # wallpaper stripes (spacing m, colour) and a rug (x0, z0, x1, z1 relative to the room, colours)
        room["stripes"] = (rng.uniform(0.08, 0.4), _shade(room["wall"], rng.uniform(0.7, 1.2))) \
            if rng.random() < 0.3 else None
        room["rug"] = (rng.uniform(0.1, 0.5), rng.uniform(0.15, 0.5), rng.uniform(0.55, 0.9), rng.uniform(0.55, 0.9),
                       tuple(int(v) for v in rng.integers(0, 256, 3)),
                       tuple(int(v) for v in rng.integers(0, 256, 3))) if rng.random() < 0.35 else None
        props, decor = ([], [])
        if furnish:
            props, decor = _furnish(rng, room)
        fx = {
            "light": rng.uniform(0.55, 1.25), "gradient": rng.uniform(0.0, 0.5),
            "ir": bool(rng.random() < 0.2) if ir is None else bool(ir),
            "noise": rng.uniform(0, 14) if effects else 0.0,
            "blur": int(rng.choice([0, 0, 3, 3, 5])) if effects else 0,
            "motion": int(rng.choice([0, 0, 0, 0, 5, 7])) if effects else 0,
            "contrast": rng.uniform(0.75, 1.15) if effects else 1.0,
            "grad": rng.uniform(0.55, 1.25, (2, 3)),
            "offset": (int(rng.integers(0, 512)), int(rng.integers(0, 512))),
            "angle": float(rng.uniform(0, 180)),
        }
        return cls(cam, room, props, decor, fx)


def _pastel(rng, lo=120, hi=235):
    base = rng.uniform(lo, hi)
    return tuple(int(np.clip(base + rng.normal(0, 18), 0, 255)) for _ in range(3))


def _floor_color(rng):
    kind = rng.integers(3)
    if kind == 0:  # wood
        return tuple(int(v) for v in (rng.uniform(40, 110), rng.uniform(80, 150), rng.uniform(120, 200)))
    if kind == 1:  # grey / stone
        g = rng.uniform(80, 200)
        return (int(g), int(g), int(g + rng.uniform(-10, 10)))
    return tuple(int(v) for v in rng.integers(40, 200, 3))


def _box(center, size, color):
    return (np.asarray(center, dtype=np.float64), np.asarray(size, dtype=np.float64), color)


def _rot(yaw, v):
    c, s = np.cos(yaw), np.sin(yaw)
    return np.array([c * v[0] + s * v[2], v[1], -s * v[0] + c * v[2]])


def make_bed(pos, yaw, rng):
    w, L, hgt = rng.uniform(0.9, 1.7), rng.uniform(1.9, 2.1), rng.uniform(0.35, 0.5)
    frame = _rand_wood(rng)
    sheet = tuple(int(v) for v in rng.integers(150, 250, 3))
    blanket = tuple(int(v) for v in rng.integers(30, 230, 3))
    c = np.array([pos[0], 0.0, pos[2]])
    boxes = [
        _box(c + [0, hgt / 2, 0], (w, hgt, L), frame),
        _box(c + [0, hgt + 0.07, 0], (w - 0.04, 0.14, L - 0.04), sheet),
        _box(c + _rot(yaw, [0, hgt + 0.15, 0.25]), (w - 0.02, 0.04, L * 0.6), blanket),
        _box(c + _rot(yaw, [0, hgt + 0.2, -L / 2 + 0.25]), (w * 0.7, 0.12, 0.35), (235, 235, 240)),
        _box(c + _rot(yaw, [0, hgt + 0.35, -L / 2 - 0.03]), (w + 0.04, hgt + 0.7, 0.06), frame),
    ]
    # boxes store unrotated sizes; yaw applies to all of them
    return Prop("bed", c, yaw, boxes, top=hgt + 0.14, extent=(w / 2, L / 2))


def make_chair(pos, yaw, rng, color=None):
    col = color or _rand_wood(rng)
    seat = rng.uniform(0.42, 0.5)
    c = np.array([pos[0], 0.0, pos[2]])
    boxes = []
    for dx in (-0.2, 0.2):
        for dz in (-0.2, 0.2):
            boxes.append(_box(c + _rot(yaw, [dx, seat / 2, dz]), (0.04, seat, 0.04), _shade(col, 0.8)))
    boxes.append(_box(c + [0, seat, 0], (0.46, 0.05, 0.46), col))
    back = _box(c + _rot(yaw, [0, seat + 0.25, -0.21]), (0.46, 0.5, 0.04), col)
    prop = Prop("chair", c, yaw, boxes, top=seat + 0.025, extent=(0.23, 0.23))
    prop.back = back
    return prop


def _rand_wood(rng):
    if rng.random() < 0.6:
        return tuple(int(v) for v in (rng.uniform(20, 80), rng.uniform(50, 110), rng.uniform(80, 160)))
    return tuple(int(v) for v in rng.integers(20, 230, 3))


def _furnish(rng, room):
    Wr, Dr = room["width"], room["depth"]
    props, decor = [], []
    if rng.random() < 0.45:
        side = rng.choice([-1, 1])
        yaw = 0.0 if rng.random() < 0.6 else np.pi / 2 * side
        z = -rng.uniform(2.2, max(2.3, Dr - 1.2))
        props.append(make_bed((side * (Wr / 2 - 1.0), 0, z), yaw, rng))
    for _ in range(int(rng.integers(0, 3))):
        props.append(make_chair((rng.uniform(-Wr / 2 + 0.5, Wr / 2 - 0.5), 0, -rng.uniform(1.5, Dr - 0.5)),
                                rng.uniform(0, 2 * np.pi), rng))
    if rng.random() < 0.4:
        c = np.array([rng.uniform(-Wr / 2 + 1, Wr / 2 - 1), 0.0, -rng.uniform(2.0, Dr - 1.0)])
        tw, td, th = rng.uniform(0.7, 1.6), rng.uniform(0.6, 1.0), rng.uniform(0.7, 0.8)
        col = _rand_wood(rng)
        boxes = [_box(c + [0, th, 0], (tw, 0.05, td), col)]
        for dx in (-tw / 2 + 0.05, tw / 2 - 0.05):
            for dz in (-td / 2 + 0.05, td / 2 - 0.05):
                boxes.append(_box(c + [dx, th / 2, dz], (0.05, th, 0.05), _shade(col, 0.8)))
        props.append(Prop("table", c, 0.0, boxes, top=th, extent=(tw / 2, td / 2)))
    for _ in range(int(rng.integers(0, 4))):  # cabinets and shelves along the back wall
        w, hgt, d = rng.uniform(0.5, 1.5), rng.uniform(0.6, 2.1), rng.uniform(0.3, 0.6)
        c = np.array([rng.uniform(-Wr / 2 + w / 2, Wr / 2 - w / 2), 0.0, -Dr + d / 2 + 0.01])
        col = _rand_wood(rng)
        boxes = [_box(c + [0, hgt / 2, 0], (w, hgt, d), col)]
        for _ in range(int(rng.integers(0, 4))):  # clutter on top
            s = rng.uniform(0.08, 0.3, 3)
            boxes.append(_box(c + [rng.uniform(-w / 2 + 0.1, w / 2 - 0.1), hgt + s[1] / 2, 0], s,
                              tuple(int(v) for v in rng.integers(0, 256, 3))))
        props.append(Prop("cabinet", c, 0.0, boxes, top=hgt, extent=(w / 2, d / 2)))
    if rng.random() < 0.3:  # a sofa against the back wall (people lie on it too)
        w, d = rng.uniform(1.5, 2.2), rng.uniform(0.8, 0.95)
        c = np.array([rng.uniform(-Wr / 2 + w / 2, Wr / 2 - w / 2), 0.0, -Dr + d / 2 + 0.05])
        col = tuple(int(v) for v in rng.integers(20, 200, 3))
        seat = rng.uniform(0.4, 0.48)
        boxes = [_box(c + [0, seat / 2, 0.05], (w, seat, d - 0.1), col),
                 _box(c + [0, seat + 0.25, -d / 2 + 0.1], (w, 0.55, 0.2), _shade(col, 0.9))]
        for sx in (-1, 1):
            boxes.append(_box(c + [sx * (w / 2 - 0.1), seat + 0.1, 0.05], (0.2, 0.25, d - 0.1), _shade(col, 0.95)))
        props.append(Prop("sofa", c, 0.0, boxes, top=seat, extent=(w / 2 - 0.25, d / 2 - 0.15)))
    for _ in range(int(rng.integers(0, 3))):  # standing lamps and coat racks: tall thin distractors
        c = np.array([rng.uniform(-Wr / 2 + 0.3, Wr / 2 - 0.3), 0.0, -rng.uniform(1.5, Dr - 0.3)])
        hgt = rng.uniform(1.4, 1.9)
        pole = tuple(int(v) for v in rng.integers(20, 120, 3))
        boxes = [_box(c + [0, 0.02, 0], (0.3, 0.04, 0.3), pole), _box(c + [0, hgt / 2, 0], (0.04, hgt, 0.04), pole)]
        if rng.random() < 0.5:  # lamp shade
            boxes.append(_box(c + [0, hgt, 0], (0.35, 0.3, 0.35), tuple(int(v) for v in rng.integers(150, 256, 3))))
        else:  # a coat hanging on it
            boxes.append(_box(c + [0.12, hgt - 0.45, 0], (0.1, 0.8, 0.4), tuple(int(v) for v in rng.integers(0, 200, 3))))
        props.append(Prop("stand", c, 0.0, boxes, top=hgt, extent=(0.15, 0.15)))
    for _ in range(int(rng.integers(0, 4))):  # floor clutter: boxes, bins, plants
        s = rng.uniform(0.15, 0.6, 3)
        c = np.array([rng.uniform(-Wr / 2 + 0.3, Wr / 2 - 0.3), 0.0, -rng.uniform(1.0, Dr - 0.3)])
        col = tuple(int(v) for v in rng.integers(0, 256, 3))
        boxes = [_box(c + [0, s[1] / 2, 0], s, col)]
        if rng.random() < 0.4:  # a plant on it
            boxes.append(_box(c + [0, s[1] + 0.25, 0], (s[0] * 1.4, 0.5, s[2] * 1.4),
                              (int(rng.integers(20, 80)), int(rng.integers(90, 170)), int(rng.integers(20, 80)))))
        props.append(Prop("clutter", c, 0.0, boxes, top=s[1], extent=(s[0] / 2, s[2] / 2)))
    # wall decor: (wall, u0, v0, u1, v1, colour) on the back wall, metres
    for _ in range(int(rng.integers(0, 5))):
        kind = rng.choice(["window", "door", "picture", "picture"])
        if kind == "window":
            w, hgt, y0 = rng.uniform(0.8, 1.8), rng.uniform(0.8, 1.4), rng.uniform(0.8, 1.1)
            col = tuple(int(v) for v in (rng.uniform(180, 255), rng.uniform(170, 240), rng.uniform(140, 220)))
        elif kind == "door":
            w, hgt, y0 = rng.uniform(0.8, 1.0), rng.uniform(1.95, 2.1), 0.0
            col = _rand_wood(rng)
        else:
            w, hgt, y0 = rng.uniform(0.3, 1.0), rng.uniform(0.3, 0.8), rng.uniform(1.1, 1.6)
            col = tuple(int(v) for v in rng.integers(0, 256, 3))
        x0 = rng.uniform(-Wr / 2, Wr / 2 - w)
        decor.append((str(kind), x0, y0, x0 + w, y0 + hgt, col,
                      tuple(int(v) for v in rng.integers(0, 256, 3))))
    return props, decor


# --------------------------------------------------------------------------------------------
# people


def place_people(world, rng, n, kinds=None):
    """Pose ``n`` people in the world (positions spread so that they rarely stand inside each other)."""
    cam = world.camera
    H, W = cam.size
    Wr, Dr = world.room["width"], world.room["depth"]
    actors = []
    taken = []
    for i in range(n):
        kind = kinds[i % len(kinds)] if kinds else posing.random_kind(rng)
        body = Body.random(rng, child=bool(rng.random() < 0.08))
        look = Look.random(rng)
        pose = posing.make_pose(kind, rng)
        support = None
        pos = None
        if kind == "lie":
            beds = [p for p in world.props if p.kind in ("bed", "sofa")]
            if beds and rng.random() < 0.45:
                bed = beds[int(rng.integers(len(beds)))]
                support = bed
                along = 0.0 if bed.kind == "bed" else np.pi / 2  # beds are long in z, sofas in x
                pose[P["yaw"]] = bed.yaw + along + (0.0 if rng.random() < 0.5 else np.pi)
                pos = bed.center + _rot(bed.yaw, [rng.uniform(-0.15, 0.15), 0, rng.uniform(-0.2, 0.2)])
                pose[P["support"]] = bed.top
        cp, sp = np.cos(cam.pitch), np.sin(cam.pitch)
        for _ in range(20):
            if pos is not None:
                break
            # a person height in pixels (log-uniform, far to near) -> camera depth of the feet;
            # the floor point at that depth under a random image column
            ph = H * np.exp(rng.uniform(np.log(0.09), np.log(1.1)))
            zc = cam.focal * body.height / ph
            yc = (cam.height - sp * zc) / cp
            v = cam.cy + cam.focal * yc / zc
            if not (0.15 * H < v < 1.4 * H):
                continue
            x = cam.x + (rng.uniform(-0.1, 1.1) * W - cam.cx) / cam.focal * zc
            z = sp * yc - cp * zc
            if not (-Wr / 2 + 0.3 <= x <= Wr / 2 - 0.3 and -Dr + 0.4 <= z <= -0.5):
                continue
            cand = np.array([x, 0.0, z])
            if np.hypot(cand[0] - cam.x, cand[2]) < 0.9:
                continue
            if all(np.hypot(*(cand - t)[[0, 2]]) > 0.6 for t in taken):
                pos = cand
        if pos is None:
            continue
        taken.append(pos)
        if support is None:
            pose[P["yaw"]] = rng.uniform(0, 2 * np.pi)
        if kind == "sit_chair":
            yaw = pose[P["yaw"]]
            chair = make_chair((pos[0], 0, pos[2]), yaw, rng)
            pos = pos + _rot(yaw, [0, 0, 0.06])
            world.props.append(chair)
            support = chair
        pose[P["x"]], pose[P["z"]] = pos[0], pos[2]
        actors.append(Actor(body, look, pose, kind, support, track_id=i + 1))
    return actors


# --------------------------------------------------------------------------------------------
# drawing


_NOISE = {}


def _noise_tile(h, w):
    """A cached grey-centred noise texture at least (h, w) (fixed seed: rendering stays deterministic)."""
    key = (max(512, h), max(640, w))
    t = _NOISE.get(key)
    if t is None:
        g = np.random.default_rng(1234567)
        t = np.clip(g.normal(128, 40, key + (3,)), 0, 255).astype(np.uint8)
        _NOISE.clear()
        _NOISE[key] = t
    return t


def draw_room(cv, world):
    cam = world.camera
    room = world.room
    Wr, Dr, Hc = room["width"], room["depth"], room["ceiling"]
    cv.image[:] = room["ceil"]
    x0, x1, zf = -Wr / 2, Wr / 2, -Dr
    zn = 0.3
    floor = np.array([[x0, 0, zn], [x1, 0, zn], [x1, 0, zf], [x0, 0, zf]])
    back = np.array([[x0, 0, zf], [x1, 0, zf], [x1, Hc, zf], [x0, Hc, zf]])
    left = np.array([[x0, 0, zn], [x0, 0, zf], [x0, Hc, zf], [x0, Hc, zn]])
    right = np.array([[x1, 0, zn], [x1, 0, zf], [x1, Hc, zf], [x1, Hc, zn]])
    for quad, col in ((back, room["wall"]), (left, room["side"]), (right, _shade(room["side"], 1.08)),
                      (floor, room["floor"])):
        pts = cam.project_polygon(quad)
        if pts is not None:
            cv.poly(pts, col, 0)
    # floor texture
    kind = room["floor_kind"]
    fcol = _shade(room["floor"], 0.8)
    step = room["board"] if kind == "boards" else 0.5
    if kind in ("boards", "tiles"):
        xs = np.arange(x0 + step, x1, step)
        a = np.stack([xs, np.zeros_like(xs), np.full_like(xs, zn)], 1)
        b = np.stack([xs, np.zeros_like(xs), np.full_like(xs, zf)], 1)
        _lines(cv, cam, a, b, fcol)
        if kind == "tiles":
            zs = np.arange(zf + step, zn, step)
            a = np.stack([np.full_like(zs, x0), np.zeros_like(zs), zs], 1)
            b = np.stack([np.full_like(zs, x1), np.zeros_like(zs), zs], 1)
            _lines(cv, cam, a, b, fcol)
    if room.get("rug"):
        fx0, fz0, fx1, fz1, c1, c2 = room["rug"]
        rx0, rx1 = x0 + fx0 * Wr, x0 + fx1 * Wr
        rz0, rz1 = zf + fz0 * (zn - zf), zf + fz1 * (zn - zf)
        for inset, col in ((0.0, c1), (0.12, c2)):
            quad = np.array([[rx0 + inset, 0, rz0 + inset], [rx1 - inset, 0, rz0 + inset],
                             [rx1 - inset, 0, rz1 - inset], [rx0 + inset, 0, rz1 - inset]])
            pts = cam.project_polygon(quad)
            if pts is not None:
                cv.poly(pts, col, 0)
    if room.get("stripes"):
        step, col = room["stripes"]
        xs = np.arange(x0 + step, x1, 2 * step)
        a = np.stack([xs, np.zeros_like(xs), np.full_like(xs, zf)], 1)
        b = np.stack([xs, np.full_like(xs, Hc), np.full_like(xs, zf)], 1)
        pa, za = cam.project(a)
        pb, zb = cam.project(b)
        for i in range(len(xs)):  # a stripe = the wall between x and x + step
            c, d = cam.project(np.array([[xs[i] + step, 0, zf], [xs[i] + step, Hc, zf]]))[0]
            if za[i] > 0.2:
                cv.poly(np.array([pa[i], c, d, pb[i]]), col, 0)
    # skirting board
    _lines(cv, cam, np.array([[x0, 0.0, zf], [x0, 0.0, zf], [x1, 0.0, zf]]),
           np.array([[x1, 0.0, zf], [x0, 0.0, zn], [x1, 0.0, zn]]), _shade(room["wall"], 0.6), width=2)
    for kind, u0, v0, u1, v1, col, col2 in world.decor:
        quad = np.array([[u0, v0, zf + 0.01], [u1, v0, zf + 0.01], [u1, v1, zf + 0.01], [u0, v1, zf + 0.01]])
        pts = cam.project_polygon(quad)
        if pts is None:
            continue
        cv.poly(pts, col, 0)
        if kind == "window":  # frame cross
            mu, mv = (u0 + u1) / 2, (v0 + v1) / 2
            _lines(cv, cam, np.array([[mu, v0, zf], [u0, mv, zf]]), np.array([[mu, v1, zf], [u1, mv, zf]]),
                   (235, 235, 235), width=2)
        elif kind == "picture":
            du, dv = (u1 - u0) * 0.2, (v1 - v0) * 0.2
            inner = np.array([[u0 + du, v0 + dv, zf], [u1 - du, v0 + dv, zf], [u1 - du, v1 - dv, zf],
                              [u0 + du, v1 - dv, zf]]) + [0, 0, 0.02]
            pts = cam.project_polygon(inner)
            if pts is not None:
                cv.poly(pts, col2, 0)


def _lines(cv, cam, a, b, color, width=1):
    pa, za = cam.project(a)
    pb, zb = cam.project(b)
    for i in range(len(a)):
        if za[i] < 0.2 or zb[i] < 0.2:
            continue
        cv.seg(pa[i], pb[i], width / 2.0, color, None)


def _draw_prop(cv, cam, prop, which="all"):
    boxes = prop.boxes if which != "back" else [prop.back]
    for c, s, col in boxes:
        draw_box(cv, cam, c, s, prop.yaw, col, 0)
    if which == "all" and hasattr(prop, "back"):
        draw_box(cv, cam, prop.back[0], prop.back[1], prop.yaw, prop.back[2], 0)


def render_world(world, actors, with_labels=False):
    """Draw a world with actors; returns ``SynthScene`` (people with no visible pixels are dropped)."""
    cam = world.camera
    H, W = cam.size
    image = np.empty((H, W, 3), np.uint8)
    labels = np.zeros((H, W), np.uint8)
    cv = Canvas(image, labels)
    draw_room(cv, world)

    views = []
    items = []  # (depth, order, kind, payload)
    actors = actors[:MAX_PEOPLE]
    if actors:  # all bodies in one vectorised pass
        all_pts = forward_kinematics([a.body for a in actors], np.stack([a.pose for a in actors]))
    for i, a in enumerate(actors):
        v = PersonView(cam, a.body, a.look, all_pts[i], i + 1, light=1.0)
        views.append(v)
        d = v.depth
        if a.support is not None:
            d = min(d, a.support.depth(cam) - 0.05)
        items.append((d, 1, "person", v))
    for p in world.props:
        if hasattr(p, "back"):
            items.append((float(cam.to_camera(p.back[0])[2]), 0, "chair_back", p))
            items.append((p.depth(cam), 0, "base", p))
        else:
            items.append((p.depth(cam), 0, "prop", p))
    items.sort(key=lambda it: (-it[0], it[1]))
    for d, _, kind, obj in items:
        if kind == "person":
            if not obj.visible_ok:
                continue
            parts = obj.parts()
            zt = [pd for pd, _, nm in parts if nm == "torso"][0]
            parts.sort(key=lambda it: -it[0])
            for _, v, name in parts:
                v.draw_part(cv, name, zt)
        elif kind == "chair_back":
            _draw_prop(cv, cam, obj, "back")
        elif kind == "base":
            for c, s, col in obj.boxes:
                draw_box(cv, cam, c, s, obj.yaw, col, 0)
        else:
            _draw_prop(cv, cam, obj)

    kps, boxes, kinds, areas, kept = _ground_truth(views, actors, labels, H, W)
    _effects(image, world.effects)
    if with_labels and kept != list(range(1, len(kept) + 1)):
        # renumber the people in the label image to the rows that were kept (0 for the dropped)
        new = np.zeros(16, np.uint16)
        for row, idx in enumerate(kept):
            new[idx] = row + 1
        lut = np.array([(new[v >> 4] << 4 | (v & 15)) if new[v >> 4] else 0 for v in range(256)], np.uint8)
        labels = lut[labels]
    return SynthScene(image, kps, boxes, labels if with_labels else None, kinds, areas)


def _ground_truth(views, actors, labels, H, W):
    cv2 = deps.load("cv2", "synthetic rendering")
    person_map = labels >> 4
    kps_out, boxes_out, kinds, areas, kept = [], [], [], [], []
    for v, a in zip(views, actors):
        mask = (person_map == v.index).view(np.uint8)
        x, y, w, h = cv2.boundingRect(mask)
        if w == 0 or h == 0 or not v.visible_ok:
            continue
        uv = v.uv[:NUM_KEYPOINTS]
        inside = (uv[:, 0] >= -0.5) & (uv[:, 0] < W - 0.5) & (uv[:, 1] >= -0.5) & (uv[:, 1] < H - 0.5)
        for k, name in _FACE:
            inside[k] &= bool(v.face_labelled(name))
        xi = np.clip(np.rint(uv[:, 0]), 0, W - 1).astype(np.intp)
        yi = np.clip(np.rint(uv[:, 1]), 0, H - 1).astype(np.intp)
        lab = labels[yi, xi]
        own = ((lab >> 4) == v.index) & _OWN[_ROWS, lab & 15]
        kp = np.full((NUM_KEYPOINTS, 3), np.nan, np.float32)
        kp[:, 2] = 0
        kp[inside, :2] = uv[inside]
        kp[inside, 2] = np.where(own[inside], 2, 1)
        if not (kp[:, 2] > 0).any():
            continue
        kps_out.append(kp)
        boxes_out.append((x, y, x + w - 1, y + h - 1))
        kinds.append(a.kind)
        areas.append(cv2.countNonZero(mask[y:y + h, x:x + w]))
        kept.append(v.index)
    kps = np.stack(kps_out) if kps_out else np.zeros((0, NUM_KEYPOINTS, 3), np.float32)
    boxes = np.array(boxes_out, np.float32).reshape(-1, 4)
    return kps, boxes, kinds, np.array(areas, np.float32), kept


def _effects(image, fx):
    cv2 = deps.load("cv2", "synthetic rendering")
    H, W = image.shape[:2]
    # lighting: global level times a smooth gradient across the frame
    g = (1.0 + (np.asarray(fx["grad"]) - 1.0) * fx["gradient"] * 2) * fx["light"] * 128.0
    g = np.repeat(np.clip(g, 0, 255).astype(np.uint8)[:, :, None], 3, axis=2)
    g = cv2.resize(g, (W, H), interpolation=cv2.INTER_LINEAR)
    cv2.multiply(image, g, dst=image, scale=1.0 / 128.0)
    if fx["ir"]:
        gray = cv2.cvtColor(image, cv2.COLOR_BGR2GRAY)
        cv2.cvtColor(gray, cv2.COLOR_GRAY2BGR, dst=image)
    if fx["motion"]:
        k = np.zeros((fx["motion"], fx["motion"]), np.float32)
        k[fx["motion"] // 2, :] = 1.0 / fx["motion"]
        rot = cv2.getRotationMatrix2D(((fx["motion"] - 1) / 2.0, (fx["motion"] - 1) / 2.0), fx["angle"], 1.0)
        k = cv2.warpAffine(k, rot, k.shape[::-1])
        k /= max(k.sum(), 1e-6)
        cv2.filter2D(image, -1, k, dst=image)
    elif fx["blur"]:
        cv2.GaussianBlur(image, (fx["blur"], fx["blur"]), 0, dst=image)
    if fx["contrast"] != 1.0:
        cv2.convertScaleAbs(image, dst=image, alpha=fx["contrast"], beta=128 * (1 - fx["contrast"]))
    if fx["noise"] > 0:
        tile = _noise_tile(H, W)
        oy, ox = fx["offset"]
        oy %= tile.shape[0] - H + 1
        ox %= tile.shape[1] - W + 1
        n = tile[oy:oy + H, ox:ox + W]
        if fx["ir"]:
            n = cv2.cvtColor(cv2.cvtColor(n, cv2.COLOR_BGR2GRAY), cv2.COLOR_GRAY2BGR)
        k = fx["noise"] / 40.0
        cv2.addWeighted(image, 1.0, n, k, -128.0 * k, dst=image)


PEOPLE_P = np.array([0.04, 0.26, 0.22, 0.17, 0.13, 0.10, 0.08])


def render_scene(seed, size=(288, 384), num_people=None, kinds=None, ir=None, effects=True, with_labels=False):
    """Render one random scene for ``seed`` (an int, or a sequence of ints) at ``size`` = (H, W).

    Deterministic: the same seed and options give the same bytes.

    num_people: fixed count (default 0..6 at random); kinds: pose families to cycle through
    (``poses.KINDS``); ir: force (True) or forbid (False) grayscale IR-like frames; effects: lighting,
    noise and blur on/off; with_labels: also return the part-label image.
    """
    H, W = int(size[0]), int(size[1])
    rng = np.random.default_rng(seed)
    world = World.random(rng, (H, W), ir=ir, effects=effects)
    n = int(rng.choice(len(PEOPLE_P), p=PEOPLE_P)) if num_people is None else int(num_people)
    actors = place_people(world, rng, min(n, MAX_PEOPLE), kinds)
    return render_world(world, actors, with_labels=with_labels)
