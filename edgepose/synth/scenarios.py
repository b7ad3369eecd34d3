"""The scenarios: scripted people in a room, one builder function per kind of sequence.

Each builder gets a ``_Context`` (world, random generator, target duration) and adds tracks with
their ``Motion`` timelines, falls to the ground truth, and exclusion zones. Timings follow real
movement: a fall takes about 0.5-1.5 s from upright to the floor, lying down deliberately several
seconds, sitting down fast under a second with the torso upright.
"""
from dataclasses import dataclass, field
from typing import Callable, Tuple

import numpy as np

from ..errors import UsageError
from . import poses as posing
from .motion import Motion, linear, smooth
from .render import Look
from .scene import make_bed, make_chair, _rot
from .skeleton import P, Body, neutral_pose

D = np.pi / 180.0


@dataclass
class Scenario:
    """A kind of sequence. ``falls``: whether its ground truth contains falls."""

    name: str
    description: str
    falls: bool
    build: Callable = field(default=None, repr=False)
    people: Tuple[int, int] = (1, 1)


class _Track:
    def __init__(self, track_id, body, look, motion):
        self.track_id = track_id
        self.body = body
        self.look = look
        self.motion = motion


class _Context:
    """What a scenario builder works with: the world, a random generator, tracks and fall truth."""

    def __init__(self, world, rng, duration):
        self.world = world
        self.rng = rng
        self.duration = duration
        self.tracks = []
        self.truth = []
        self.zones = []

    # -- places -------------------------------------------------------------------------------
    def floor(self, u=(0.15, 0.85), v=(0.45, 0.92), margin=0.5):
        """A floor point seen in the given part of the image (fractions of W and H)."""
        cam = self.world.camera
        H, W = cam.size
        Wr, Dr = self.world.room["width"], self.world.room["depth"]
        horizon = (cam.cy - cam.focal * np.tan(cam.pitch)) / H + 0.06
        v = (max(v[0], horizon), max(v[1], horizon + 0.1))
        for _ in range(50):
            fp = cam.floor_point(self.rng.uniform(*u) * W, self.rng.uniform(*v) * H)
            if fp is None:
                continue
            if -Wr / 2 + margin <= fp[0] <= Wr / 2 - margin and -Dr + margin <= fp[2] <= -1.2:
                return float(fp[0]), float(fp[2])
        return float(cam.x), float(-min(Dr - margin, 3.5))

    def floor_at(self, dist, u=(0.4, 0.6)):
        """A floor point ``dist`` = (min, max) metres in front of the camera, seen at image column u."""
        cam = self.world.camera
        d = self.rng.uniform(*dist)
        v = cam.project(np.array([cam.x, 0.0, -d]))[0][1]
        fp = cam.floor_point(self.rng.uniform(*u) * cam.size[1], v)
        return (float(fp[0]), float(fp[2])) if fp is not None else (cam.x, -d)

    def far_from(self, xz, dmin=1.5, **kw):
        best = None
        for _ in range(20):
            p = self.floor(**kw)
            d = np.hypot(p[0] - xz[0], p[1] - xz[1])
            if d >= dmin:
                return p
            if best is None or d > best[1]:
                best = (p, d)
        return best[0]

    def set_depth(self, depth):
        """Move the back wall (and what stands against it) to ``depth`` metres from the camera."""
        self.world.room["depth"] = float(depth)
        self.world.props = [_reseat(p, depth) if p.kind == "cabinet" else p for p in self.world.props]

    # -- people -------------------------------------------------------------------------------
    def person(self, x, z, yaw=None):
        rng = self.rng
        body = Body.random(rng)
        look = Look.random(rng)
        pose = posing.stand_pose(rng)
        pose[P["x"]], pose[P["z"]] = x, z
        pose[P["yaw"]] = rng.uniform(0, 2 * np.pi) if yaw is None else yaw
        m = Motion(body, pose, rng)
        self.tracks.append(_Track(len(self.tracks) + 1, body, look, m))
        return m

    def fall(self, track_motion, start_t, impact_t, end_t=None):
        tid = [t.track_id for t in self.tracks if t.motion is track_motion][0]
        self.truth.append({"track_id": tid, "label": "fall", "start_t": round(float(start_t), 3),
                           "impact_t": round(float(impact_t), 3),
                           "end_t": None if end_t is None else round(float(end_t), 3)})


# ----------------------------------------------------------------------------------------------
# movement pieces shared by the scenarios


def _stand(m, rng):
    return m.with_position(posing.stand_pose(rng))


def _lead_in(ctx, m, seconds):
    """Walk around (and pause) for about ``seconds`` before the main action."""
    rng = ctx.rng
    t_end = m.t + seconds
    while m.t < t_end - 0.5:
        if rng.random() < 0.7:
            x, z = ctx.far_from((m.pose[P["x"]], m.pose[P["z"]]), 1.2)
            m.walk_to(x, z)
            m.to(_stand(m, rng), 0.4, "standing")
        else:
            m.hold(rng.uniform(0.8, 2.0), "standing")
    return m.t


def _lead_in_near(ctx, m, seconds):
    """Like ``_lead_in`` but staying in the near half of the floor (in front of the furniture)."""
    t_end = m.t + seconds
    while m.t < t_end - 0.5:
        x, z = ctx.floor(v=(0.75, 0.95))
        m.walk_to(x, z)
        m.to(_stand(m, ctx.rng), 0.4, "standing")
    return m.t


def _walk_near(ctx, m, x, z):
    """Walk to (x, z) from wherever the person is, then stop."""
    m.walk_to(x, z)
    m.to(_stand(m, ctx.rng), 0.4, "standing")


def _lying_pose(rng, how, m, dx=0.0, dz=0.0, yaw=None, support=0.0):
    p = posing.lie_pose(rng, how)
    p = m.with_position(p, m.pose[P["x"]] + dx, m.pose[P["z"]] + dz, yaw)
    p[P["support"]] = support
    return p


def _fall(ctx, m, direction, dur=None, arms_overhead=True):
    """Fall from standing (forward / backward / left / right); returns (start_t, impact_t)."""
    rng = ctx.rng
    h = m.body.height
    yaw = m.pose[P["yaw"]]
    fwd = np.array([np.sin(yaw), np.cos(yaw)])
    left = np.array([np.cos(yaw), -np.sin(yaw)])
    dur = dur or rng.uniform(0.6, 1.3)
    start = m.t
    if direction == "forward":
        end = _lying_pose(rng, "front", m, *(fwd * 0.45 * h))
        for s in ("l", "r"):  # arms thrown forward to break the fall, or hands under the chest
            if arms_overhead:
                end[P[s + "_sh_flex"]] = rng.uniform(110, 170) * D
                end[P[s + "_sh_abd"]] = rng.uniform(10, 50) * D
                end[P[s + "_elbow"]] = rng.uniform(20, 80) * D
            else:
                end[P[s + "_sh_flex"]] = rng.uniform(40, 90) * D
                end[P[s + "_sh_abd"]] = rng.uniform(5, 30) * D
                end[P[s + "_elbow"]] = rng.uniform(70, 130) * D
        stumble = m.with_position(posing.fall_pose(rng, 0.25, "forward"),
                                  *(np.array([m.pose[P["x"]], m.pose[P["z"]]]) + fwd * 0.15 * h))
        m.to(stumble, dur * 0.45, "falling", ease=smooth, limbs_first=1.5)
        m.to(end, dur * 0.55, "falling", ease=lambda u: u * u, limbs_first=1.5)
    elif direction == "backward":
        end = _lying_pose(rng, "back", m, *(-fwd * 0.35 * h))
        sit = m.with_position(posing.fall_pose(rng, 0.3, "backward"),
                              *(np.array([m.pose[P["x"]], m.pose[P["z"]]]) - fwd * 0.1 * h))
        sit[P["l_hip_flex"]] = sit[P["r_hip_flex"]] = rng.uniform(50, 80) * D
        sit[P["l_knee"]] = sit[P["r_knee"]] = rng.uniform(60, 100) * D
        m.to(sit, dur * 0.5, "falling", ease=lambda u: u * u, limbs_first=1.4)
        m.to(end, dur * 0.5, "falling", ease=smooth)
    else:
        sgn = 1.0 if direction == "right" else -1.0   # roll > 0 tips towards the person's right
        end = _lying_pose(rng, "side", m, *(-sgn * left * 0.45 * h))
        end[P["roll"]] = sgn * 90 * D
        end[P["pitch"]] = rng.uniform(-15, 15) * D
        for s in ("l", "r"):
            end[P[s + "_sh_abd"]] = rng.uniform(40, 120) * D
        m.to(end, dur, "falling", ease=lambda u: u * u, limbs_first=1.5)
    return start, m.t


def _get_up(ctx, m):
    """From lying: sit up or push up, kneel, stand (3-6 s)."""
    rng = ctx.rng
    pitch = m.pose[P["pitch"]]
    if pitch > 45 * D:  # face down: push up onto hands and knees first
        fours = m.with_position(neutral_pose())
        fours[P["pitch"]] = 75 * D
        for s in ("l", "r"):
            fours[P[s + "_hip_flex"]] = 85 * D
            fours[P[s + "_knee"]] = 95 * D
            fours[P[s + "_sh_flex"]] = 80 * D
        m.to(fours, rng.uniform(1.2, 2.0), "getting_up")
    else:
        sit = m.with_position(posing.sit_floor_pose(rng))
        m.to(sit, rng.uniform(1.2, 2.0), "getting_up")
    kneel = m.with_position(posing.kneel_pose(rng))
    m.to(kneel, rng.uniform(1.0, 1.6), "getting_up")
    m.to(_stand(m, rng), rng.uniform(1.0, 1.5), "getting_up")
    return m.t


def _sit_down_on(ctx, m, chair, dur, upright=False, label="sitting_down"):
    """Walk in front of ``chair``, turn round and sit on it in ``dur`` seconds."""
    rng = ctx.rng
    yaw = chair.yaw
    fwd = _rot(yaw, [0, 0, 1.0])
    front = chair.center + fwd * 0.55
    _walk_near(ctx, m, front[0], front[2])
    m.turn_to(yaw, rng.uniform(0.5, 0.9))
    seat = chair.center + fwd * 0.06
    sit = m.with_position(posing.sit_chair_pose(rng), seat[0], seat[2], yaw)
    sit[P["spine_bend"]] = rng.uniform(-5, 8) * D
    if upright:
        m.to(sit, dur, label, prop=chair)
    else:  # lean forward on the way down, then settle back
        mid = m.pose + (sit - m.pose) * 0.55
        mid[P["spine_bend"]] = rng.uniform(25, 40) * D
        m.to(mid, dur * 0.55, label, prop=chair)
        m.to(sit, dur * 0.45, label, prop=chair)
    return m.t


def _place_chair(ctx, where=None):
    rng = ctx.rng
    x, z = where or ctx.floor(u=(0.25, 0.75), v=(0.5, 0.8))
    cam = ctx.world.camera
    # face the camera side more or less, so the sitter is seen
    yaw = float(np.arctan2(cam.x - x, -z)) + rng.uniform(-70, 70) * D
    chair = make_chair((x, 0, z), yaw, rng)
    ctx.world.props.append(chair)
    return chair


# ----------------------------------------------------------------------------------------------
# scenarios


def _sc_walking(ctx):
    rng = ctx.rng
    for _ in range(int(rng.integers(1, 3))):
        m = ctx.person(*ctx.floor())
        _lead_in(ctx, m, ctx.duration)


def _sc_standing(ctx):
    rng = ctx.rng
    for _ in range(int(rng.integers(1, 3))):
        m = ctx.person(*ctx.floor(), yaw=rng.uniform(-60, 60) * D)
        while m.t < ctx.duration:
            if rng.random() < 0.25:
                m.turn_to(m.pose[P["yaw"]] + rng.uniform(-90, 90) * D, rng.uniform(0.6, 1.2))
            elif rng.random() < 0.3:
                m.to(m.with_position(posing.reach_pose(rng)), rng.uniform(0.6, 1.2), "standing")
            else:
                m.to(_stand(m, rng), rng.uniform(0.5, 1.0), "standing")
            m.hold(rng.uniform(1.0, 3.0), "standing")


def _sc_sit_chair(ctx, fast=False):
    rng = ctx.rng
    chair = _place_chair(ctx)
    m = ctx.person(*ctx.far_from((chair.center[0], chair.center[2]), 2.0))
    _lead_in(ctx, m, rng.uniform(1.0, 3.0))
    if fast:
        _sit_down_on(ctx, m, chair, rng.uniform(0.6, 0.9), upright=True)
        m.hold(rng.uniform(4.0, 7.0), "sitting", prop=chair)
    else:
        _sit_down_on(ctx, m, chair, rng.uniform(1.5, 2.5))
        m.hold(rng.uniform(3.0, 6.0), "sitting", prop=chair)
        mid = m.pose.copy()
        mid[P["spine_bend"]] = 35 * D
        m.to(mid, 0.6, "standing_up", prop=chair)
        m.to(_stand(m, rng), rng.uniform(1.0, 1.5), "standing_up")
        x, z = ctx.far_from((chair.center[0], chair.center[2]), 1.5)
        _walk_near(ctx, m, x, z)


def _sc_bend_pick(ctx):
    rng = ctx.rng
    m = ctx.person(*ctx.floor())
    _lead_in(ctx, m, rng.uniform(2.0, 5.0))
    bend = m.with_position(posing.bend_pose(rng))
    bend[P["spine_bend"]] = rng.uniform(70, 95) * D
    m.to(bend, rng.uniform(0.9, 1.5), "bending")
    m.hold(rng.uniform(0.8, 2.0), "bending", sway=0.3)
    m.to(_stand(m, rng), rng.uniform(0.9, 1.3), "standing")
    _lead_in(ctx, m, rng.uniform(2.0, 4.0))


def _sc_crouch(ctx):
    rng = ctx.rng
    m = ctx.person(*ctx.floor())
    _lead_in(ctx, m, rng.uniform(2.0, 5.0))
    m.to(m.with_position(posing.crouch_pose(rng)), rng.uniform(1.0, 1.6), "crouching")
    m.hold(rng.uniform(2.0, 4.0), "crouching", sway=0.3)
    m.to(_stand(m, rng), rng.uniform(1.0, 1.5), "standing")
    m.hold(rng.uniform(1.0, 2.0), "standing")


def _sc_lie_bed(ctx):
    rng = ctx.rng
    x, z = ctx.floor(u=(0.3, 0.7), v=(0.4, 0.7), margin=1.3)
    bed = make_bed((x, 0, z), rng.choice([0.0, np.pi / 2]) + rng.uniform(-10, 10) * D, rng)
    ctx.world.props.append(bed)
    ctx.zones.append(("bed", bed))
    # sit on the long side of the bed that faces the camera, coming from the camera side
    cam = ctx.world.camera
    sides = [_rot(bed.yaw, [sg, 0, 0]) for sg in (-1.0, 1.0)]
    across = min(sides, key=lambda a: np.hypot(*(bed.center + a - cam.C)[[0, 2]]))
    edge = bed.center + across * (bed.extent[0] - 0.1)
    stand_at = bed.center + across * (bed.extent[0] + 0.45)
    m = ctx.person(*ctx.floor(v=(0.75, 0.95)))
    _lead_in_near(ctx, m, rng.uniform(1.0, 3.0))
    _walk_near(ctx, m, stand_at[0], stand_at[2])
    face = float(np.arctan2(across[0], across[2]))
    m.turn_to(face, 0.8)
    sit = m.with_position(posing.sit_chair_pose(rng), edge[0], edge[2], face)
    m.to(sit, rng.uniform(1.2, 2.0), "sitting_down", prop=bed)
    m.hold(rng.uniform(1.0, 2.5), "sitting", prop=bed)
    # swing the legs up and lie down along the bed (head at the headboard end: -z of the bed)
    lie = posing.lie_pose(rng, "back")
    lie[P["x"]], lie[P["z"]] = bed.center[0], bed.center[2]
    lie[P["yaw"]] = bed.yaw  # lying on the back, the head points to the person's -z: the headboard
    lie[P["support"]] = bed.top
    m.to(lie, rng.uniform(2.0, 3.0), "lying_down", prop=bed)
    m.hold(rng.uniform(3.0, 6.0), "lying", sway=0.2, prop=bed)


def _sc_lie_floor_slow(ctx):
    rng = ctx.rng
    m = ctx.person(*ctx.floor())
    _lead_in(ctx, m, rng.uniform(2.0, 4.0))
    m.to(m.with_position(posing.kneel_pose(rng)), rng.uniform(1.5, 2.5), "lying_down")
    m.to(m.with_position(posing.sit_floor_pose(rng)), rng.uniform(1.5, 2.5), "lying_down")
    how = rng.choice(["back", "side"])
    m.to(_lying_pose(rng, how, m), rng.uniform(2.0, 3.0), "lying_down")
    m.hold(rng.uniform(3.0, 5.0), "lying", sway=0.2)


def _sc_fall(ctx, direction=None, recover=False):
    rng = ctx.rng
    m = ctx.person(*ctx.floor())
    _lead_in(ctx, m, rng.uniform(3.0, 6.0))
    direction = direction or str(rng.choice(["forward", "backward", "left", "right"]))
    if direction == "sideways":
        direction = str(rng.choice(["left", "right"]))
    start, impact = _fall(ctx, m, direction)
    m.hold(rng.uniform(2.0, 4.0) if recover else rng.uniform(4.0, 7.0), "fallen", sway=0.0)
    end = None
    if recover:
        end = _get_up(ctx, m)
        m.hold(rng.uniform(1.0, 2.5), "standing")
    ctx.fall(m, start, impact, end)


def _sc_fall_from_sitting(ctx):
    rng = ctx.rng
    chair = _place_chair(ctx)
    m = ctx.person(*ctx.far_from((chair.center[0], chair.center[2]), 2.0))
    _lead_in(ctx, m, rng.uniform(1.0, 2.5))
    _sit_down_on(ctx, m, chair, rng.uniform(1.5, 2.3))
    m.hold(rng.uniform(2.0, 4.0), "sitting", prop=chair)
    h = m.body.height
    yaw = m.pose[P["yaw"]]
    if rng.random() < 0.5:  # slump forward off the seat
        d = _rot(yaw, [0, 0, 1.0]) * 0.55 * h
        end = _lying_pose(rng, "front", m, d[0], d[2])
    else:  # topple sideways
        sgn = rng.choice([-1.0, 1.0])
        d = _rot(yaw, [-sgn, 0, 0.3]) * 0.45 * h
        end = _lying_pose(rng, "side", m, d[0], d[2])
        end[P["roll"]] = sgn * 90 * D
    start = m.t
    m.to(end, rng.uniform(0.8, 1.4), "falling", ease=lambda u: u * u, limbs_first=1.3)
    ctx.fall(m, start, m.t)
    m.hold(rng.uniform(3.0, 6.0), "fallen", sway=0.0)


def _sc_slide_wall(ctx):
    rng = ctx.rng
    x, zw = ctx.floor(u=(0.3, 0.7), v=(0.3, 0.42))
    ctx.set_depth(-zw)
    z = zw + 0.2
    m = ctx.person(*ctx.floor())
    _lead_in(ctx, m, rng.uniform(1.0, 3.0))
    _walk_near(ctx, m, x, z + 0.1)
    m.turn_to(rng.uniform(-15, 15) * D, 0.8)
    m.hold(rng.uniform(0.8, 1.5), "standing")
    slump = m.with_position(posing.sit_floor_pose(rng))
    slump[P["z"]] = z + 0.3
    slump[P["l_hip_flex"]] = slump[P["r_hip_flex"]] = rng.uniform(75, 95) * D
    slump[P["l_knee"]] = rng.uniform(5, 50) * D
    slump[P["r_knee"]] = rng.uniform(5, 50) * D
    slump[P["spine_bend"]] = rng.uniform(10, 30) * D
    slump[P["spine_side"]] = rng.uniform(-20, 20) * D
    slump[P["head_pitch"]] = rng.uniform(20, 45) * D
    for s in ("l", "r"):
        slump[P[s + "_sh_flex"]] = rng.uniform(-10, 15) * D
        slump[P[s + "_sh_abd"]] = rng.uniform(5, 25) * D
        slump[P[s + "_elbow"]] = rng.uniform(0, 30) * D
    mid = m.pose + (slump - m.pose) * 0.5
    mid[P["l_hip_flex"]] = mid[P["r_hip_flex"]] = 70 * D
    mid[P["l_knee"]] = mid[P["r_knee"]] = 110 * D
    start = m.t
    dur = rng.uniform(2.5, 4.5)
    m.to(mid, dur * 0.6, "falling", ease=linear)
    m.to(slump, dur * 0.4, "falling")
    ctx.fall(m, start, m.t)
    m.hold(rng.uniform(3.0, 5.0), "fallen", sway=0.0)


def _sc_fall_toward_camera(ctx):
    rng = ctx.rng
    cam = ctx.world.camera
    # far enough that the whole body stays in view and perspective does not stretch it
    ctx.set_depth(max(ctx.world.room["depth"], 10.0))
    x, z = ctx.floor_at((5.5, 7.5), u=(0.35, 0.65))
    m = ctx.person(x, z)
    m.hold(rng.uniform(1.0, 2.0), "standing")
    # walk along the viewing axis, then fall along it
    near = ctx.floor_at((5.0, 6.5))
    towards = rng.random() < 0.6
    if towards:
        far = ctx.floor_at((7.5, 9.0))
        _walk_near(ctx, m, far[0], far[1])
        _walk_near(ctx, m, near[0], near[1])
    else:
        _walk_near(ctx, m, near[0], near[1])
    axis = float(np.arctan2(cam.x - m.pose[P["x"]], -m.pose[P["z"]]))  # heading towards the camera
    m.turn_to(axis + rng.uniform(-8, 8) * D, 0.5)
    m.hold(rng.uniform(0.5, 1.5), "standing")
    start, impact = _fall(ctx, m, "forward" if towards else "backward", arms_overhead=False)
    ctx.fall(m, start, impact)
    m.hold(rng.uniform(4.0, 6.0), "fallen", sway=0.0)


def _sc_crossing(ctx):
    rng = ctx.rng
    n = int(rng.integers(3, 5))
    for i in range(n):
        if i % 2 == 0:
            a, b = ctx.floor(u=(0.05, 0.2)), ctx.floor(u=(0.8, 0.95))
        else:
            a, b = ctx.floor(u=(0.3, 0.7), v=(0.4, 0.5)), ctx.floor(u=(0.3, 0.7), v=(0.8, 0.95))
        if rng.random() < 0.5:
            a, b = b, a
        m = ctx.person(*a)
        m.hold(rng.uniform(0.0, 1.5), "standing")
        while m.t < ctx.duration:
            m.walk_to(*b)
            a, b = b, a


def _sc_mixed(ctx):
    rng = ctx.rng
    others = int(rng.integers(1, 3))
    for _ in range(others):
        if rng.random() < 0.3:
            chair = _place_chair(ctx)
            m = ctx.person(*ctx.far_from((chair.center[0], chair.center[2]), 1.5))
            _sit_down_on(ctx, m, chair, rng.uniform(1.5, 2.5))
            m.hold(ctx.duration, "sitting", prop=chair)
        else:
            m = ctx.person(*ctx.floor())
            _lead_in(ctx, m, ctx.duration)
    recover = rng.random() < 0.3
    _sc_fall(ctx, None, recover)


def _build(fn, **kw):
    return lambda ctx: fn(ctx, **kw)


SCENARIOS = {s.name: s for s in (
    Scenario("walking", "one or two people walking around the room", False, _sc_walking, (1, 2)),
    Scenario("standing", "people standing, turning and gesturing", False, _sc_standing, (1, 2)),
    Scenario("sit_chair", "walk to a chair, sit down, sit, get up and walk away", False, _sc_sit_chair),
    Scenario("sit_fast", "sit down fast (under a second) on a chair, torso upright: not a fall", False,
             _build(_sc_sit_chair, fast=True)),
    Scenario("bend_pick", "bend down to pick something up and straighten again", False, _sc_bend_pick),
    Scenario("crouch", "crouch down for a few seconds and stand up", False, _sc_crouch),
    Scenario("lie_bed", "sit on a bed and lie down on it (the bed is an exclusion zone)", False, _sc_lie_bed),
    Scenario("lie_floor_slow", "lie down on the floor slowly and deliberately (kneel, sit, lie): not a fall",
             False, _sc_lie_floor_slow),
    Scenario("fall_forward", "walk, then fall forward onto the floor and stay down", True,
             _build(_sc_fall, direction="forward")),
    Scenario("fall_backward", "walk, then fall backward (sit-down fall) and stay down", True,
             _build(_sc_fall, direction="backward")),
    Scenario("fall_sideways", "walk, then fall sideways and stay down", True, _build(_sc_fall, direction="sideways")),
    Scenario("fall_from_sitting", "sit on a chair, then slump or topple off it onto the floor", True,
             _sc_fall_from_sitting),
    Scenario("slide_wall", "slow slide down a wall into a slumped sitting position (a fall)", True, _sc_slide_wall),
    Scenario("fall_recover", "fall, lie a few seconds, then get up again", True, _build(_sc_fall, recover=True)),
    Scenario("fall_toward_camera", "fall along the viewing axis: the box barely changes shape, the body "
             "foreshortens", True, _sc_fall_toward_camera),
    Scenario("crossing", "three or four people walking across each other's paths", False, _sc_crossing, (3, 4)),
    Scenario("mixed", "a few people; one of them falls (the default clip)", True, _sc_mixed, (2, 3)),
)}


def get_scenario(name):
    if isinstance(name, Scenario):
        return name
    sc = SCENARIOS.get(name)
    if sc is None:
        raise UsageError("unknown scenario %r: choose one of %s" % (name, ", ".join(sorted(SCENARIOS))))
    return sc


def _reseat(prop, depth):
    """Move a back-wall cabinet onto the back wall at ``depth``."""
    boxes = []
    old = prop.boxes[0]
    dz = (-depth + old[1][2] / 2 + 0.01) - old[0][2]
    for c, s, col in prop.boxes:
        boxes.append((c + np.array([0.0, 0.0, dz]), s, col))
    prop.boxes = boxes
    prop.center = prop.center + np.array([0.0, 0.0, dz])
    return prop
