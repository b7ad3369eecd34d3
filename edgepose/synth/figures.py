"""Stick-figure people in network-input pixels, for the decoder's tests and benchmark.

``skeleton(cx, cy, height, pose, angle)`` gives the 18 keypoints of one simple 2D pose (standing,
arms up, arms out, waving; any rotation), ``crowd(n, size)`` lays out ``n`` of them on a grid that
fills an image without overlaps. ``edgepose.synth.targets.render_maps`` turns them into the maps a
perfect network would output.
"""
import math

import numpy as np

from ..topology import KP, NUM_KEYPOINTS

# A standing person facing the camera (its right side on the image's left), in units of its height,
# origin between the hips; y down.
_STAND = {
    "nose": (0.0, -0.40), "neck": (0.0, -0.30),
    "r_shoulder": (-0.11, -0.29), "r_elbow": (-0.14, -0.12), "r_wrist": (-0.15, 0.03),
    "l_shoulder": (0.11, -0.29), "l_elbow": (0.14, -0.12), "l_wrist": (0.15, 0.03),
    "r_hip": (-0.07, 0.02), "r_knee": (-0.075, 0.24), "r_ankle": (-0.08, 0.45),
    "l_hip": (0.07, 0.02), "l_knee": (0.075, 0.24), "l_ankle": (0.08, 0.45),
    "r_eye": (-0.025, -0.425), "l_eye": (0.025, -0.425), "r_ear": (-0.06, -0.41), "l_ear": (0.06, -0.41),
}
_POSES = {
    "stand": {},
    "arms_up": {"r_elbow": (-0.16, -0.44), "r_wrist": (-0.17, -0.60),
                "l_elbow": (0.16, -0.44), "l_wrist": (0.17, -0.60)},
    "arms_out": {"r_elbow": (-0.28, -0.29), "r_wrist": (-0.45, -0.29),
                 "l_elbow": (0.28, -0.29), "l_wrist": (0.45, -0.29)},
    "wave": {"r_elbow": (-0.25, -0.36), "r_wrist": (-0.28, -0.55)},
}
POSES = tuple(sorted(_POSES))


def skeleton(cx, cy, height, pose="stand", angle=0.0):
    """``(18, 3)`` float32 keypoints (x, y, v=2) of a person centred at (cx, cy) (between the hips).

    pose: one of ``POSES``; angle: rotation in degrees (90: lying, head to the left).
    """
    table = dict(_STAND)
    table.update(_POSES[pose])
    rel = np.array([table[n] for n in sorted(KP, key=KP.get)], dtype=np.float64) * float(height)
    a = math.radians(angle)
    rot = np.array([[math.cos(a), -math.sin(a)], [math.sin(a), math.cos(a)]])
    xy = rel @ rot.T + (cx, cy)
    out = np.empty((NUM_KEYPOINTS, 3), dtype=np.float32)
    out[:, :2] = xy
    out[:, 2] = 2
    return out


def crowd(n, size, seed=0, poses=("stand", "arms_up", "wave")):
    """``(n, 18, 3)`` people on a jittered grid filling an image of ``size`` (H, W), none overlapping."""
    h, w = size
    rng = np.random.default_rng(seed)
    rows = max(1, int(round(math.sqrt(n * h / float(w) / 2.5))))
    cols = int(math.ceil(n / float(rows)))
    ch, cw = h / float(rows), w / float(cols)
    # Height limited by the cell height and width (arms reach about +-0.3 height with these poses).
    base = min(0.62 * ch, 1.4 * cw)
    people = []
    for i in range(n):
        r, c = divmod(i, cols)
        height = base * rng.uniform(0.85, 1.0)
        cx = (c + 0.5) * cw + rng.uniform(-0.05, 0.05) * cw
        cy = (r + 0.5) * ch + 0.05 * height + rng.uniform(-0.04, 0.04) * ch
        pose = poses[int(rng.integers(len(poses)))]
        people.append(skeleton(cx, cy, height, pose, angle=rng.uniform(-8, 8)))
    return np.stack(people) if people else np.zeros((0, NUM_KEYPOINTS, 3), np.float32)
