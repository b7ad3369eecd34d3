"""Pose families: standing, walking, sitting, lying, bending, crouching, kneeling, falling.

Each ``*_pose(rng, ...)`` returns a pose vector (see ``skeleton.POSE_PARAMS``) with the root at the
origin facing the camera; callers set ``x``, ``z``, ``yaw`` and ``support``. ``random_pose`` picks a
family with the mix used for still scenes.
"""
import numpy as np

from .skeleton import P, clamp_pose, neutral_pose

D = np.pi / 180.0

# still-scene mix: a fair share of lying, sitting and bending people (falls must be learnable)
KINDS = ("stand", "walk", "sit_chair", "sit_floor", "lie", "bend", "crouch", "kneel", "fall", "reach")
KIND_WEIGHTS = np.array([0.15, 0.17, 0.12, 0.05, 0.16, 0.08, 0.06, 0.05, 0.10, 0.06])
KIND_WEIGHTS = KIND_WEIGHTS / KIND_WEIGHTS.sum()


def _arms(rng, p, spread=1.0):
    for s in ("l", "r"):
        p[P[s + "_sh_flex"]] = rng.normal(5, 15 * spread) * D
        p[P[s + "_sh_abd"]] = abs(rng.normal(10, 10 * spread)) * D
        p[P[s + "_elbow"]] = abs(rng.normal(15, 25 * spread)) * D


def stand_pose(rng):
    p = neutral_pose()
    _arms(rng, p)
    if rng.random() < 0.35:  # one arm busy: phone, cup, pointing
        s = "l" if rng.random() < 0.5 else "r"
        p[P[s + "_sh_flex"]] = rng.uniform(20, 80) * D
        p[P[s + "_elbow"]] = rng.uniform(40, 130) * D
    for s in ("l", "r"):
        p[P[s + "_hip_abd"]] = rng.uniform(0, 10) * D
        p[P[s + "_hip_flex"]] = rng.normal(0, 4) * D
        p[P[s + "_knee"]] = abs(rng.normal(0, 4)) * D
    p[P["head_yaw"]] = rng.normal(0, 20) * D
    p[P["head_pitch"]] = rng.normal(0, 10) * D
    p[P["spine_twist"]] = rng.normal(0, 8) * D
    return clamp_pose(p)


def walk_pose(rng, phase=None, stride=1.0):
    """One instant of a walking gait; ``phase`` in radians (a full step cycle is 2 pi)."""
    p = neutral_pose()
    ph = rng.uniform(0, 2 * np.pi) if phase is None else phase
    amp = 24 * stride
    for s, off in (("l", 0.0), ("r", np.pi)):
        a = ph + off
        p[P[s + "_hip_flex"]] = amp * np.sin(a) * D
        # knee bends in the swing phase (leg moving forward) and a little at heel strike
        p[P[s + "_knee"]] = (8 + 50 * stride * max(0.0, np.sin(a + 1.2)) ** 2) * D
        p[P[s + "_sh_flex"]] = -0.8 * amp * np.sin(a) * D   # arm swings against its own leg
        p[P[s + "_sh_abd"]] = 8 * D
        p[P[s + "_elbow"]] = (15 + 15 * max(0.0, -np.sin(a))) * D
    p[P["spine_bend"]] = 4 * D
    p[P["spine_twist"]] = 6 * np.sin(ph) * D
    return clamp_pose(p)


def sit_chair_pose(rng):
    p = neutral_pose()
    _arms(rng, p)
    for s in ("l", "r"):
        p[P[s + "_hip_flex"]] = rng.uniform(80, 100) * D
        p[P[s + "_knee"]] = rng.uniform(75, 105) * D
        p[P[s + "_hip_abd"]] = rng.uniform(3, 15) * D
        p[P[s + "_sh_flex"]] = rng.uniform(10, 45) * D
        p[P[s + "_elbow"]] = rng.uniform(30, 90) * D
    p[P["spine_bend"]] = rng.uniform(-10, 15) * D
    p[P["head_yaw"]] = rng.normal(0, 20) * D
    return clamp_pose(p)


def sit_floor_pose(rng):
    p = neutral_pose()
    _arms(rng, p)
    knees = rng.uniform(10, 120)
    for s in ("l", "r"):
        p[P[s + "_hip_flex"]] = rng.uniform(70, 100) * D
        p[P[s + "_knee"]] = (knees + rng.normal(0, 10)) * D
        p[P[s + "_hip_abd"]] = rng.uniform(5, 35) * D
        p[P[s + "_sh_flex"]] = rng.uniform(-30, 40) * D
    p[P["spine_bend"]] = rng.uniform(-5, 25) * D
    return clamp_pose(p)


def lie_pose(rng, how=None):
    """Lying on the back, front or side; arms and legs rest on the floor in one of a few ways."""
    p = neutral_pose()
    how = how or rng.choice(["back", "front", "side"])
    if how == "back":
        p[P["pitch"]] = -90 * D + rng.normal(0, 4) * D
    elif how == "front":
        p[P["pitch"]] = 90 * D + rng.normal(0, 4) * D
        p[P["head_yaw"]] = rng.choice([-1, 1]) * rng.uniform(30, 70) * D
    else:
        p[P["pitch"]] = rng.normal(0, 10) * D
        p[P["roll"]] = rng.choice([-1, 1]) * 90 * D
    for s in ("l", "r"):
        if how == "side":
            p[P[s + "_sh_flex"]] = rng.uniform(20, 110) * D
            p[P[s + "_sh_abd"]] = rng.uniform(0, 25) * D
            p[P[s + "_elbow"]] = rng.uniform(0, 110) * D
            p[P[s + "_hip_flex"]] = rng.uniform(0, 80) * D
            p[P[s + "_knee"]] = rng.uniform(0, 100) * D
            continue
        r = rng.random()
        if r < 0.6:    # arm on the floor beside the body or out to the side
            p[P[s + "_sh_flex"]] = rng.uniform(-10, 15) * D
            p[P[s + "_sh_abd"]] = rng.uniform(0, 90) * D
            p[P[s + "_elbow"]] = rng.uniform(0, 40) * D
        elif r < 0.85:  # above the head
            p[P[s + "_sh_flex"]] = rng.uniform(140, 180) * D
            p[P[s + "_sh_abd"]] = rng.uniform(0, 40) * D
            p[P[s + "_elbow"]] = rng.uniform(0, 100) * D
        else:           # hand on the chest / belly
            p[P[s + "_sh_flex"]] = rng.uniform(10, 40) * D
            p[P[s + "_sh_abd"]] = rng.uniform(0, 15) * D
            p[P[s + "_elbow"]] = rng.uniform(90, 130) * D
        if how == "back" and rng.random() < 0.3:  # knee up, foot on the floor
            p[P[s + "_hip_flex"]] = rng.uniform(35, 60) * D
            p[P[s + "_knee"]] = rng.uniform(70, 100) * D
        else:
            p[P[s + "_hip_flex"]] = rng.uniform(-5, 10) * D
            p[P[s + "_knee"]] = rng.uniform(0, 15 if how == "back" else 60) * D
        p[P[s + "_hip_abd"]] = rng.uniform(0, 20) * D
    p[P["spine_bend"]] = rng.uniform(-5, 10) * D
    p[P["spine_side"]] = rng.normal(0, 8) * D
    return clamp_pose(p)


def bend_pose(rng):
    p = neutral_pose()
    p[P["spine_bend"]] = rng.uniform(35, 95) * D
    p[P["head_pitch"]] = rng.uniform(-30, 10) * D
    for s in ("l", "r"):
        p[P[s + "_knee"]] = rng.uniform(0, 40) * D
        p[P[s + "_hip_flex"]] = p[P[s + "_knee"]] * 0.5 + rng.uniform(0, 15) * D
        p[P[s + "_sh_flex"]] = rng.uniform(30, 110) * D
        p[P[s + "_elbow"]] = rng.uniform(0, 60) * D
    return clamp_pose(p)


def crouch_pose(rng):
    p = neutral_pose()
    k = rng.uniform(100, 150)
    for s in ("l", "r"):
        p[P[s + "_knee"]] = (k + rng.normal(0, 6)) * D
        p[P[s + "_hip_flex"]] = (k * 0.85 + rng.normal(0, 6)) * D
        p[P[s + "_hip_abd"]] = rng.uniform(5, 25) * D
        p[P[s + "_sh_flex"]] = rng.uniform(20, 80) * D
        p[P[s + "_elbow"]] = rng.uniform(20, 100) * D
    p[P["spine_bend"]] = rng.uniform(10, 45) * D
    p[P["pitch"]] = -rng.uniform(0, 15) * D
    return clamp_pose(p)


def kneel_pose(rng):
    p = neutral_pose()
    _arms(rng, p)
    both = rng.random() < 0.5
    for s in ("l", "r"):
        if both or s == "l":
            p[P[s + "_hip_flex"]] = rng.uniform(-5, 20) * D
            p[P[s + "_knee"]] = rng.uniform(80, 110) * D
        else:
            p[P[s + "_hip_flex"]] = rng.uniform(70, 100) * D
            p[P[s + "_knee"]] = rng.uniform(70, 100) * D
    p[P["spine_bend"]] = rng.uniform(0, 30) * D
    return clamp_pose(p)


def fall_pose(rng, progress=None, direction=None):
    """A body on its way down: tilted 25..80 degrees, arms thrown out to break the fall."""
    p = neutral_pose()
    prog = rng.uniform(0.3, 0.9) if progress is None else progress
    direction = direction or rng.choice(["forward", "backward", "side"])
    tilt = prog * 90 * D
    if direction == "forward":
        p[P["pitch"]] = tilt
        for s in ("l", "r"):
            p[P[s + "_sh_flex"]] = rng.uniform(60, 140) * prog * D
            p[P[s + "_elbow"]] = rng.uniform(5, 40) * D
            p[P[s + "_knee"]] = rng.uniform(0, 40) * prog * D
        p[P["head_pitch"]] = -30 * prog * D
    elif direction == "backward":
        p[P["pitch"]] = -tilt
        for s in ("l", "r"):
            p[P[s + "_sh_flex"]] = rng.uniform(20, 100) * D
            p[P[s + "_sh_abd"]] = rng.uniform(20, 70) * D
            p[P[s + "_hip_flex"]] = rng.uniform(10, 60) * prog * D
            p[P[s + "_knee"]] = rng.uniform(10, 60) * prog * D
        p[P["head_pitch"]] = 30 * prog * D
    else:
        p[P["roll"]] = rng.choice([-1, 1]) * tilt
        for s in ("l", "r"):
            p[P[s + "_sh_abd"]] = rng.uniform(30, 110) * D
            p[P[s + "_knee"]] = rng.uniform(0, 50) * D
            p[P[s + "_hip_flex"]] = rng.uniform(0, 40) * D
    return clamp_pose(p)


def reach_pose(rng):
    p = stand_pose(rng)
    for s in ("l", "r"):
        if rng.random() < 0.6:
            p[P[s + "_sh_flex"]] = rng.uniform(60, 175) * D
            p[P[s + "_sh_abd"]] = rng.uniform(0, 80) * D
            p[P[s + "_elbow"]] = rng.uniform(0, 60) * D
    return clamp_pose(p)


_MAKERS = {
    "stand": stand_pose, "walk": walk_pose, "sit_chair": sit_chair_pose, "sit_floor": sit_floor_pose,
    "lie": lie_pose, "bend": bend_pose, "crouch": crouch_pose, "kneel": kneel_pose, "fall": fall_pose,
    "reach": reach_pose,
}


def make_pose(kind, rng):
    return _MAKERS[kind](rng)


def random_kind(rng):
    return KINDS[int(rng.choice(len(KINDS), p=KIND_WEIGHTS))]
