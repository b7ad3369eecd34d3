"""Scripted motion of one person: a timeline of segments, each a function of time to a pose vector.

``Motion`` builds the timeline step by step (``hold``, ``to``, ``walk_to``); ``at(t)`` reads a pose,
an activity label and the prop the person sits or lies on. Timings follow real movement: a fall takes
about 0.5-1.5 s from upright to the floor, lying down deliberately several seconds.
"""
import numpy as np

from .poses import walk_pose
from .skeleton import P, clamp_pose

# Labels a track's activity can take in a sequence's ground truth.
ACTIVITIES = ("standing", "walking", "sitting_down", "sitting", "standing_up", "bending", "crouching",
              "lying_down", "lying", "falling", "fallen", "getting_up")

# what an activity turns into when its segment ends and the person just stays
_SETTLED = {"falling": "fallen", "sitting_down": "sitting", "lying_down": "lying", "standing_up": "standing",
            "getting_up": "standing", "walking": "standing"}

_ROOT = [P["x"], P["z"], P["yaw"], P["pitch"], P["roll"], P["support"]]
_LIMBS = [i for i in range(len(P)) if i not in _ROOT]


def smooth(u):
    return u * u * (3.0 - 2.0 * u)


def ease_in(u):
    """Accelerating like a body toppling under gravity."""
    return u * u


def linear(u):
    return u


def wrap_angle(a):
    return (a + np.pi) % (2 * np.pi) - np.pi


class Motion:
    def __init__(self, body, pose, rng, t0=0.0):
        self.body = body
        self.rng = rng
        self.segs = []      # (t0, t1, fn(seconds into segment) -> pose, label, prop)
        self.t = float(t0)
        self.pose = np.array(pose, dtype=np.float64)
        self.prop = None
        self.phase = float(rng.uniform(0, 2 * np.pi))
        self.first_label = "standing"

    # -- building ---------------------------------------------------------------------------
    def _add(self, dur, fn, label, prop=None):
        dur = max(float(dur), 1e-3)
        if not self.segs:
            self.first_label = label
        self.segs.append((self.t, self.t + dur, fn, label, prop))
        self.t += dur
        self.pose = np.array(fn(dur), dtype=np.float64)
        self.prop = prop
        return self.t

    def hold(self, dur, label, sway=1.0, prop=None):
        """Stay in the current pose, with small idle movements (head, arms, breathing)."""
        base = self.pose.copy()
        ph = self.rng.uniform(0, 2 * np.pi, 4)
        amp = 0.0 if label in ("fallen",) else sway

        def fn(s):
            p = base.copy()
            p[P["head_yaw"]] += amp * 0.25 * np.sin(0.6 * s + ph[0]) * min(1.0, s)
            p[P["head_pitch"]] += amp * 0.06 * np.sin(0.9 * s + ph[1]) * min(1.0, s)
            p[P["l_sh_flex"]] += amp * 0.05 * np.sin(1.1 * s + ph[2]) * min(1.0, s)
            p[P["r_sh_flex"]] += amp * 0.05 * np.sin(1.3 * s + ph[3]) * min(1.0, s)
            return clamp_pose(p)

        return self._add(dur, fn, label, prop if prop is not None else self.prop)

    def to(self, target, dur, label, ease=smooth, prop=None, limbs_first=1.0):
        """Move to ``target`` (a full pose vector); ``limbs_first`` > 1 moves the limbs faster than the root."""
        start = self.pose.copy()
        tgt = np.array(target, dtype=np.float64)
        tgt[P["yaw"]] = start[P["yaw"]] + wrap_angle(tgt[P["yaw"]] - start[P["yaw"]])
        dur = max(float(dur), 1e-3)

        def fn(s):
            u = min(1.0, max(0.0, s / dur))
            k = ease(u)
            p = start + (tgt - start) * k
            if limbs_first != 1.0:
                kl = smooth(min(1.0, u * limbs_first))
                p[_LIMBS] = start[_LIMBS] + (tgt - start)[_LIMBS] * kl
            return p

        return self._add(dur, fn, label, prop)

    def walk_to(self, x, z, speed=None, label="walking"):
        """Walk in a straight line to floor point (x, z), turning towards it first."""
        start = self.pose.copy()
        dx, dz = x - start[P["x"]], z - start[P["z"]]
        dist = float(np.hypot(dx, dz))
        if dist < 0.05:
            return self.t
        speed = speed or self.rng.uniform(0.8, 1.35)
        heading = float(np.arctan2(dx, dz))
        yaw0 = start[P["yaw"]]
        yaw1 = yaw0 + wrap_angle(heading - yaw0)
        step = 0.41 * self.body.height
        dur = dist / speed
        phase0 = self.phase
        ux, uz = dx / dist, dz / dist

        def fn(s):
            d = speed * min(s, dur)
            g = walk_pose(None, phase=phase0 + np.pi * d / step)
            k = smooth(min(1.0, s / 0.35))
            p = start + (g - start) * k
            p[P["yaw"]] = yaw0 + (yaw1 - yaw0) * smooth(min(1.0, s / 0.5))
            p[P["x"]] = start[P["x"]] + ux * d
            p[P["z"]] = start[P["z"]] + uz * d
            p[P["pitch"]] = p[P["roll"]] = p[P["support"]] = 0.0
            return p

        self.phase = phase0 + np.pi * dist / step
        return self._add(dur, fn, label, None)

    def turn_to(self, yaw, dur=0.6, label="standing"):
        tgt = self.pose.copy()
        tgt[P["yaw"]] = yaw
        return self.to(tgt, dur, label)

    # -- reading ----------------------------------------------------------------------------
    @property
    def end(self):
        return self.t

    def at(self, t):
        """(pose, activity label, prop) at time t (before the first segment: its start; after: held)."""
        if not self.segs or t < self.segs[0][0]:
            if self.segs:
                t0, t1, fn, label, prop = self.segs[0]
                return fn(0.0), label, prop
            return self.pose, self.first_label, self.prop
        for t0, t1, fn, label, prop in self.segs:
            if t0 <= t < t1:
                return fn(t - t0), label, prop
        t0, t1, fn, label, prop = self.segs[-1]
        return fn(t1 - t0), _SETTLED.get(label, label), prop

    def with_position(self, pose, x=None, z=None, yaw=None):
        """A copy of ``pose`` placed at the current (or given) floor position and heading."""
        p = np.array(pose, dtype=np.float64)
        p[P["x"]] = self.pose[P["x"]] if x is None else x
        p[P["z"]] = self.pose[P["z"]] if z is None else z
        p[P["yaw"]] = self.pose[P["yaw"]] if yaw is None else yaw
        return p
