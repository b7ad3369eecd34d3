"""Labelled activity sequences: walking, sitting, lying down, and falls of several kinds.

``SCENARIOS`` (see ``scenarios.py``) names them; ``generate_sequence(name, seed)`` scripts the people
and returns a ``Sequence`` of per-frame ground-truth poses in the recording schema
(docs/contracts.md) plus activity labels, fall truth and exclusion zones, without drawing anything
(thousands of frames per second). ``edgepose.synth.clip.render_sequence`` draws it.
"""
from dataclasses import dataclass, field
from typing import List, Tuple

import numpy as np

from ..errors import UsageError
from ..topology import KEYPOINTS
from .camera import Camera
from .scenarios import SCENARIOS, Scenario, _Context, _reseat, get_scenario
from .scene import World, _rot
from .skeleton import FACE_THRESHOLDS, X, face_facing, forward_kinematics

D = np.pi / 180.0

__all__ = ["SCENARIOS", "Scenario", "Sequence", "generate_sequence", "get_scenario"]


@dataclass
class Sequence:
    """Ground truth of one generated sequence (see module doc). ``world`` and ``tracks`` let
    ``render_sequence`` draw it; ``poses[i]`` lists (track index, pose, prop) for frame ``i``."""

    scenario: str
    seed: int
    fps: float
    size: Tuple[int, int]
    frames: List[dict]
    truth: List[dict]
    zones: List[dict]
    world: World = field(repr=False, default=None)
    tracks: list = field(repr=False, default_factory=list)
    poses: list = field(repr=False, default_factory=list)

    @property
    def duration(self):
        return len(self.frames) / self.fps


def _sequence_world(rng, size):
    """A room seen by a typical wall-mounted camera, with the back wall in view."""
    H, W = size
    world = World.random(rng, size, effects=True)
    if rng.random() < 0.75:
        hc, pitch = rng.uniform(2.0, 2.8), rng.uniform(18, 35)
    else:
        hc, pitch = rng.uniform(1.2, 1.7), rng.uniform(5, 14)
    cam = Camera(size, W * rng.uniform(0.6, 0.9), hc, pitch * D, x=rng.uniform(-0.3, 0.3))
    world.camera = cam
    top = cam.floor_point(cam.cx, 0.12 * H)
    depth = 9.0 if top is None else float(np.clip(-top[2] + 0.3, 4.5, 11.0))
    world.room["depth"] = depth
    world.room["width"] = max(world.room["width"], 2 * depth * (W / 2) / cam.focal + 1.0)
    # keep the furniture along the walls; scenarios add what they need in the middle
    world.props = [_reseat(p, depth) for p in world.props if p.kind == "cabinet"]
    world.effects["ir"] = bool(rng.random() < 0.2)
    world.effects["motion"] = 0
    return world


def _hull(points):
    """Convex hull (monotone chain) of 2D points, counter-clockwise in image coordinates."""
    pts = sorted(set((round(float(x), 1), round(float(y), 1)) for x, y in points))
    if len(pts) <= 2:
        return pts

    def cross(o, a, b):
        return (a[0] - o[0]) * (b[1] - o[1]) - (a[1] - o[1]) * (b[0] - o[0])

    lower, upper = [], []
    for p in pts:
        while len(lower) >= 2 and cross(lower[-2], lower[-1], p) <= 0:
            lower.pop()
        lower.append(p)
    for p in reversed(pts):
        while len(upper) >= 2 and cross(upper[-2], upper[-1], p) <= 0:
            upper.pop()
        upper.append(p)
    return lower[:-1] + upper[:-1]


def _zone(name, prop, camera):
    """The image region of a bed or sofa and the space just above it, where a lying body is seen."""
    corners = []
    c, s, _ = prop.boxes[1]
    above = (c + np.array([0.0, s[1] / 2 + 0.2, 0.0]), np.array([s[0], 0.4, s[2]]), None)
    for c, s, _ in prop.boxes[:2] + [above]:  # frame, mattress, the space above the mattress
        half = np.asarray(s) / 2
        axes = np.array([_rot(prop.yaw, [1, 0, 0]), [0, 1, 0], _rot(prop.yaw, [0, 0, 1])])
        for sx in (-1, 1):
            for sy in (-1, 1):
                for sz in (-1, 1):
                    corners.append(c + (np.array([sx, sy, sz]) * half) @ axes)
    uv, z = camera.project(np.array(corners))
    return {"name": name, "role": "exclude", "polygon": [[x, y] for x, y in _hull(uv[z > 0.15])]}


def generate_sequence(scenario, seed, fps=15.0, size=(288, 384), duration=None):
    """Script and pose a scenario; see the module doc. ``duration`` (s) defaults to the script's
    length plus a tail, between 8 and 20 s."""
    sc = get_scenario(scenario)
    fps = float(fps)
    if fps <= 0:
        raise UsageError("fps must be positive, got %r" % fps)
    H, W = int(size[0]), int(size[1])
    rng = np.random.default_rng([int(seed), sum(map(ord, sc.name))])
    world = _sequence_world(rng, (H, W))
    target = float(duration) if duration else rng.uniform(10.0, 16.0)
    ctx = _Context(world, rng, target)
    sc.build(ctx)
    if duration is None:
        script = max(t.motion.end for t in ctx.tracks) if ctx.tracks else target
        total = float(np.clip(script + rng.uniform(1.0, 2.5), 8.0, 20.0))
        if ctx.truth:  # never cut a scripted fall short
            total = max(total, max(e["impact_t"] for e in ctx.truth) + 2.0)
    else:
        total = float(duration)
    n = max(1, int(round(total * fps)))
    cam = world.camera
    source = "synth:%s:%d" % (sc.name, int(seed))
    times = np.arange(n) / fps
    per_track = []  # per track: (poses (n, NP), labels, props, keypoint rows per frame or None)
    for tr in ctx.tracks:
        states = [tr.motion.at(t) for t in times]
        poses = np.stack([st[0] for st in states])
        rows = _track_keypoints(cam, tr.body, poses, H, W)
        per_track.append((poses, [st[1] for st in states], [st[2] for st in states], rows))
    frames, frame_poses = [], []
    for i in range(n):
        people, activity, fp = [], {}, []
        for k, tr in enumerate(ctx.tracks):
            poses, labels, props, rows = per_track[k]
            fp.append((k, poses[i], props[i]))
            if rows[i] is None:
                continue
            people.append({"track_id": tr.track_id, "score": 1.0, "keypoints": rows[i]})
            activity[str(tr.track_id)] = labels[i]
        frames.append({"t": round(float(times[i]), 4), "frame": i, "source": source, "width": W, "height": H,
                       "people": people, "activity": activity})
        frame_poses.append(fp)
    poses = frame_poses
    truth = [e for e in ctx.truth if e["start_t"] < total]
    zones = [_zone(name, prop, cam) for name, prop in ctx.zones]
    return Sequence(sc.name, int(seed), fps, (H, W), frames, truth, zones, world, ctx.tracks, poses)


def _track_keypoints(cam, body, poses, H, W):
    """Per frame: 18 [x, y, 1.0] rows (``[None, None, 0]`` outside the image or for face points
    turned away), or None when no keypoint is in the image (one vectorised pass per track)."""
    pts = forward_kinematics(body, poses)                       # (T, NUM_POINTS, 3)
    n = X["head_up"]
    pc = cam.to_camera(pts[:, :n])
    uv = cam.project_camera(pc[:, :len(KEYPOINTS)])             # (T, 18, 2)
    ok = (uv[..., 0] >= -0.5) & (uv[..., 0] < W - 0.5) & (uv[..., 1] >= -0.5) & (uv[..., 1] < H - 0.5)
    facing = face_facing(pts[:, n:] @ cam.R.T)                  # head up, forward, left per frame
    for name, f in facing.items():
        ok[:, KEYPOINTS.index(name)] &= f > FACE_THRESHOLDS[name]
    ok &= (pc[:, :, 2] >= 0.3).all(axis=1)[:, None]
    uv = np.round(uv, 2)
    out = []
    for t in range(len(poses)):
        if not ok[t].any():
            out.append(None)
            continue
        row = uv[t].tolist()
        out.append([[r[0], r[1], 1.0] if o else [None, None, 0] for r, o in zip(row, ok[t].tolist())])
    return out
