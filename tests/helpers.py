"""Factories shared by the tests (the one place for them: test modules never import each other).

- ``event`` / ``change``: typed alert events for sink and daemon tests
- ``make_scene``: small kinematic sequences of a 3D stick figure seen by a pinhole camera, with real
  (jittered) timestamps, keypoint noise and dropout: the analytics tests' input
- ``parse_prometheus``: a strict reader of the /metrics text
- ``PulseAnalyzer``: stand-in analytics raising an alert every 3rd frame (daemon load tests)
- ``write_recording``: scenes written in the recording format (replay)
"""
import math

import numpy as np

from edgepose.analytics.events import Event, EventChange
from edgepose.types import Person


def event(id="e1", label="fall", source="cam", track_id=3, start_time=1.0, detected_time=2.0, score=0.8,
          severity="high", box=(100.0, 100.0, 200.0, 300.0), **fields):
    """An ``Event`` with plausible values; any field can be given."""
    return Event(id=id, label=label, source=source, track_id=track_id, start_time=start_time,
                 detected_time=detected_time, score=score, severity=severity,
                 box=None if box is None else list(box), **fields)


def change(kind="new", keypoints=None, **fields):
    """An ``EventChange`` of ``kind`` for ``event(**fields)``; ``before`` is a copy of it unless new.

    keypoints: (18, 3) for the snapshot overlay, or True for a standing figure with one keypoint missing.
    """
    after = event(**fields)
    if kind == "end" and after.end_time is None:
        after.end_time = after.detected_time + 1.0
    if keypoints is True:
        keypoints = np.array([[150.0, 120.0 + 10 * k, 0.9] for k in range(18)])
        keypoints[5] = (np.nan, np.nan, 0.0)
    return EventChange(kind, None if kind == "new" else after.copy(end_time=None), after, keypoints)


def parse_prometheus(text):
    """Minimal Prometheus text parser: {(name, frozenset(labels)): value}; checks HELP/TYPE order."""
    samples, typed = {}, set()
    for line in text.splitlines():
        if not line:
            continue
        if line.startswith("# HELP "):
            continue
        if line.startswith("# TYPE "):
            _, _, name, kind = line.split(" ")
            assert kind in ("gauge", "counter", "histogram", "summary", "untyped")
            typed.add(name)
            continue
        assert not line.startswith("#"), line
        head, value = line.rsplit(" ", 1)
        labels = {}
        if "{" in head:
            name, rest = head.split("{", 1)
            assert rest.endswith("}")
            for part in rest[:-1].split(","):
                k, v = part.split("=", 1)
                assert v.startswith('"') and v.endswith('"')
                labels[k] = v[1:-1]
        else:
            name = head
        assert name in typed, "sample before its TYPE line: %s" % line
        samples[(name, frozenset(labels.items()))] = float(value)
    return samples


# -- stick-figure scenes for the analytics tests ----------------------------------------------------
H = 1.7
L_TORSO, L_THIGH, L_SHIN = 0.30 * H, 0.245 * H, 0.245 * H
D = math.pi / 180.0
SIZE = (480, 640)  # H, W


def _rot(axis, a):
    c, s = math.cos(a), math.sin(a)
    x, y, z = axis
    return np.array([[c + x * x * (1 - c), x * y * (1 - c) - z * s, x * z * (1 - c) + y * s],
                     [y * x * (1 - c) + z * s, c + y * y * (1 - c), y * z * (1 - c) - x * s],
                     [z * x * (1 - c) - y * s, z * y * (1 - c) + x * s, c + z * z * (1 - c)]])


def body3d(p):
    """World (18, 3) joints for pose parameters p (dict, angles in degrees, metres)."""
    pts = {}
    a, k = p.get("hip", 0) * D, p.get("knee", 0) * D
    swing = p.get("swing", 0) * D
    legs = {}
    for side, sgn in (("r", 1), ("l", -1)):
        aa = a + sgn * swing
        thigh = L_THIGH * np.array([0, -math.cos(aa), math.sin(aa)])
        shin = L_SHIN * np.array([0, -math.cos(aa - k), math.sin(aa - k)])
        legs[side] = (thigh, shin)
    th, sh = legs["r"]
    hip = -(th + sh)
    hip[1] = max(hip[1], 0.08)  # sitting on the floor: hips rest on it
    hip[1] += p.get("seat", 0.0)  # a chair or bed under the hips
    pitch = p.get("pitch", 0) * D
    up = np.array([0, math.cos(pitch), math.sin(pitch)])
    fwd = np.array([0, -math.sin(pitch), math.cos(pitch)])
    lat = np.array([1.0, 0, 0])
    neck = hip + L_TORSO * up
    pts["neck"] = neck
    pts["nose"] = neck + 0.085 * H * up + 0.055 * H * fwd
    pts["r_eye"] = pts["nose"] + 0.02 * H * up - 0.02 * H * fwd + 0.03 * H * lat
    pts["l_eye"] = pts["nose"] + 0.02 * H * up - 0.02 * H * fwd - 0.03 * H * lat
    pts["r_ear"] = neck + 0.09 * H * up + 0.06 * H * lat
    pts["l_ear"] = neck + 0.09 * H * up - 0.06 * H * lat
    for side, sgn in (("r", 1), ("l", -1)):
        s = neck + sgn * 0.11 * H * lat - 0.02 * H * up
        pts[side + "_shoulder"] = s
        arm = p.get("arm", 0) * D
        adir = np.array([0, -math.cos(pitch + arm), math.sin(pitch + arm)]) if p.get("arm_body") else \
            np.array([0, -1.0, 0])
        pts[side + "_elbow"] = s + 0.17 * H * adir
        pts[side + "_wrist"] = s + 0.33 * H * adir
        h = hip + sgn * 0.055 * H * lat
        th, sh = legs[side]
        pts[side + "_hip"] = h
        pts[side + "_knee"] = h + th
        pts[side + "_ankle"] = h + th + sh
    names = ["nose", "neck", "r_shoulder", "r_elbow", "r_wrist", "l_shoulder", "l_elbow", "l_wrist",
             "r_hip", "r_knee", "r_ankle", "l_hip", "l_knee", "l_ankle", "r_eye", "l_eye", "r_ear", "l_ear"]
    X = np.stack([pts[n] for n in names])
    tilt = p.get("tilt", 0) * D
    if tilt:
        d = p.get("tilt_dir", 0) * D  # 0 forward, 90 to the body's right, 180 backward
        axis = np.array([math.cos(d), 0.0, -math.sin(d)])  # rotating +y toward the fall direction
        X = X @ _rot(axis, tilt).T
        X[:, 1] = np.maximum(X[:, 1], 0.03)
    X[:, 1] = np.maximum(X[:, 1], 0.0)
    hd = p.get("heading", 0) * D  # 0: facing the camera
    R = _rot((0, 1, 0), math.pi + hd)
    X = X @ R.T
    X[:, 0] += p.get("x", 0.0)
    X[:, 2] += p.get("z", 4.0)
    return X


def project(X, cam_h=1.6, tilt_deg=12.0, f=420.0):
    t = tilt_deg * D
    Y = X - np.array([0, cam_h, 0])
    c, s = math.cos(t), math.sin(t)
    yc = Y[:, 1] * c + Y[:, 2] * s
    zc = -Y[:, 1] * s + Y[:, 2] * c
    u = f * Y[:, 0] / zc + SIZE[1] / 2
    v = -f * yc / zc + SIZE[0] / 2
    return np.stack([u, v], axis=1)


def _interp(keys, t):
    """Keyframes [(t, params, ease)] -> params at t (ease: 'lin' or 'acc' (fall, accelerating))."""
    if t <= keys[0][0]:
        return dict(keys[0][1])
    for (t0, p0, _), (t1, p1, ease) in zip(keys, keys[1:]):
        if t0 <= t <= t1:
            s = (t - t0) / max(t1 - t0, 1e-9)
            if ease == "acc":
                s = s * s
            elif ease == "smooth":
                s = s * s * (3 - 2 * s)
            out = {}
            for k in set(p0) | set(p1):
                a, b = p0.get(k, 0.0), p1.get(k, 0.0)
                out[k] = a + (b - a) * s if not isinstance(a, bool) else b
            return out
    return dict(keys[-1][1])


STAND = {"hip": 0, "knee": 0, "pitch": 0}
SIT = {"hip": 90, "knee": 90, "pitch": 5, "seat": 0.25 * H - 0.08}
BED = {"x": 1.2, "z": 5.0}


def _scenario(name):
    """(people: list of keyframe lists, truth: list of (start_t, impact_t) or [], zones)."""
    def st(**kw):
        return dict(STAND, **kw)
    if name == "standing":
        return [[(0, st(), "lin"), (8, st(), "lin")]], [], []
    if name == "walking":
        keys = []
        for i in range(17):
            keys.append((i * 0.5, st(x=-2 + i * 0.25, swing=20 * (1 if i % 2 else -1), heading=90), "smooth"))
        return [keys], [], []
    if name == "crossing":
        a = [(i * 0.5, st(x=-2.5 + i * 0.3, z=4.0, swing=20 * (1 if i % 2 else -1), heading=90), "smooth")
             for i in range(17)]
        b = [(i * 0.5, st(x=2.5 - i * 0.3, z=4.6, swing=20 * (1 if i % 2 else -1), heading=-90), "smooth")
             for i in range(17)]
        return [a, b], [], []
    if name == "sit_chair":
        return [[(0, st(heading=90), "lin"), (2, st(heading=90), "lin"), (3.2, dict(SIT, heading=90), "smooth"),
                 (8, dict(SIT, heading=90), "lin")]], [], []
    if name == "sit_fast":
        return [[(0, st(heading=90), "lin"), (2, st(heading=90), "lin"), (2.4, dict(SIT, heading=90), "acc"),
                 (7, dict(SIT, heading=90), "lin")]], [], []
    if name == "bend_pick":
        return [[(0, st(heading=90), "lin"), (2, st(heading=90), "lin"),
                 (2.8, st(heading=90, pitch=85, hip=10, arm=-80, arm_body=True), "smooth"),
                 (4, st(heading=90, pitch=85, hip=10, arm=-80, arm_body=True), "lin"),
                 (4.8, st(heading=90), "smooth"), (7, st(heading=90), "lin")]], [], []
    if name == "crouch":
        c = st(hip=110, knee=150, pitch=30)
        return [[(0, st(), "lin"), (2, st(), "lin"), (2.6, c, "smooth"), (5, c, "lin"), (5.8, st(), "smooth"),
                 (8, st(), "lin")]], [], []
    if name == "lie_floor_slow":
        sitf = {"hip": 90, "knee": 20, "pitch": 10, "heading": 90}
        return [[(0, st(heading=90), "lin"), (2, st(heading=90), "lin"), (3.5, dict(st(heading=90), hip=80, knee=150, pitch=20), "smooth"),
                 (5.5, sitf, "smooth"), (8.5, dict(sitf, pitch=-88), "smooth"),
                 (14, dict(sitf, pitch=-88), "lin")]], [], []
    if name == "lie_bed":
        on = dict(SIT, heading=90, seat=0.3, **BED)
        zone = [{"name": "bed", "role": "exclude", "polygon": None}]
        return [[(0, st(heading=90, **BED), "lin"), (2, st(heading=90, **BED), "lin"), (3, on, "smooth"),
                 (4, dict(on, pitch=-88, hip=90, knee=0), "acc"), (12, dict(on, pitch=-88, hip=90, knee=0), "lin")]], [], zone
    falls = {
        "fall_forward": dict(heading=90, tilt_dir=0, tilt=88),
        "fall_backward": dict(heading=90, tilt_dir=180, tilt=88),
        "fall_sideways": dict(heading=0, tilt_dir=90, tilt=88),
        "fall_toward_camera": dict(heading=0, tilt_dir=0, tilt=88, z=3.2),
    }
    if name in falls or name == "fall_recover":
        f = falls.get(name, falls["fall_forward"])
        base = st(heading=f["heading"], z=f.get("z", 4.0))
        down = dict(base, tilt=f["tilt"], tilt_dir=f["tilt_dir"], knee=15, hip=10)
        keys = [(0, base, "lin"), (3, base, "lin"), (3.8, down, "acc")]
        if name == "fall_recover":
            keys += [(8, down, "lin"), (9.5, dict(base, hip=90, knee=120, pitch=30), "smooth"),
                     (10.5, base, "smooth"), (14, base, "lin")]
        else:
            keys += [(10, down, "lin")]
        return [keys], [(3.0, 3.8)], []
    if name == "fall_from_sitting":
        s = dict(SIT, heading=90)
        down = dict(s, tilt=85, tilt_dir=0, seat=0.0, hip=40, knee=30, pitch=10)
        return [[(0, s, "lin"), (3, s, "lin"), (3.7, down, "acc"), (10, down, "lin")]], [(3.0, 3.7)], []
    raise KeyError(name)


def make_scene(name, seed=0, fps=15.0, jitter=0.008, dropout=0.05, frame_drop=0.05, fps_jitter=0.2):
    """frames: list of (t, [Person]); truth: list of (start_t, impact_t); zones: config dicts."""
    rng = np.random.default_rng(seed)
    people, truth, zones = _scenario(name)
    t_end = max(k[-1][0] for k in people)
    frames = []
    t = 0.0
    while t <= t_end:
        ps = []
        for keys in people:
            uv = project(body3d(_interp(keys, t)))
            scale = 220.0
            uv = uv + rng.normal(0, jitter * scale, uv.shape)
            kp = np.concatenate([uv, rng.uniform(0.5, 0.95, (18, 1))], axis=1)
            drop = rng.random(18) < dropout
            kp[drop] = [np.nan, np.nan, 0.0]
            ps.append(Person(kp, 0.8))
        if rng.random() >= frame_drop:
            frames.append((t, ps))
        t += (1.0 / fps) * (1 + rng.uniform(-fps_jitter, fps_jitter))
    for z in zones:
        if z["polygon"] is None:  # the bed: around where the person lies
            X = body3d(dict(SIT, **BED, heading=90, pitch=-88, seat=0.3))
            uv = project(X)
            x0, y0 = uv.min(0) - 40
            x1, y1 = uv.max(0) + 40
            z["polygon"] = [[x0, y0], [x1, y0], [x1, y1], [x0, y1]]
    return frames, truth, zones


def write_recording(path, scenes):
    """scenes: {source: frames of ``make_scene``} written interleaved by time in the recording format;
    returns the number of lines."""
    import json

    lines = []
    for source, frames in scenes.items():
        for i, (t, people) in enumerate(frames):
            lines.append((t, json.dumps({"t": t, "frame": i, "source": source, "width": SIZE[1], "height": SIZE[0],
                                         "people": [p.to_json() for p in people]})))
    lines.sort(key=lambda x: x[0])
    with open(str(path), "w") as f:
        f.write("".join(line + "\n" for _, line in lines))
    return len(lines)


class PulseAnalyzer(object):
    """Stand-in analytics: a new 'bad_posture' alert on every 3rd frame, each with its own id, so the
    alerts a daemon emits can be counted at the broker."""

    def __init__(self, config=None, source="default"):
        self.source, self.n = source, 0

    def update(self, t, people, frame_size=None):
        self.n += 1
        if self.n % 3:
            return []
        return [change("new", id="%s-%d" % (self.source, self.n), label="bad_posture", source=self.source,
                       start_time=t, detected_time=t)]

    def finish(self, t=None, reason="stopped"):
        return []
