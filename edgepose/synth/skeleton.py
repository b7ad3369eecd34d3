"""An articulated human body in 3D: proportions, pose parameters with joint limits, forward kinematics.

A pose is a flat float vector (``POSE_PARAMS`` names its entries, angles in radians) so that
sequences can interpolate between key poses. ``forward_kinematics(body, pose)`` returns the 3D world
positions of the 18 BodyPoseNet keypoints and of the extra points the renderer needs (hand and toe
tips, head centre, torso corners), in metres.

World frame (right-handed): X to the right of the camera, Y up, Z towards the camera; the floor is
Y = 0. A person's own frame: x = their left, y = up, z = forward; yaw 0 faces the camera.
"""
from dataclasses import dataclass

import numpy as np

from ..topology import KP, NUM_KEYPOINTS

POSE_PARAMS = (
    "x", "z", "yaw", "pitch", "roll", "support",   # root: floor position, heading, whole-body tilt, floor height
    "spine_bend", "spine_side", "spine_twist",     # upper body relative to the pelvis
    "head_pitch", "head_yaw",
    "l_sh_flex", "l_sh_abd", "l_elbow",
    "r_sh_flex", "r_sh_abd", "r_elbow",
    "l_hip_flex", "l_hip_abd", "l_knee",
    "r_hip_flex", "r_hip_abd", "r_knee",
)
P = {name: i for i, name in enumerate(POSE_PARAMS)}
NUM_PARAMS = len(POSE_PARAMS)

_D = np.pi / 180.0
# Joint-angle limits (radians); root position, heading and tilts are free.
LIMITS = {
    "spine_bend": (-30 * _D, 100 * _D), "spine_side": (-35 * _D, 35 * _D), "spine_twist": (-50 * _D, 50 * _D),
    "head_pitch": (-45 * _D, 60 * _D), "head_yaw": (-75 * _D, 75 * _D),
    "l_sh_flex": (-60 * _D, 180 * _D), "l_sh_abd": (-15 * _D, 170 * _D), "l_elbow": (0.0, 150 * _D),
    "r_sh_flex": (-60 * _D, 180 * _D), "r_sh_abd": (-15 * _D, 170 * _D), "r_elbow": (0.0, 150 * _D),
    "l_hip_flex": (-35 * _D, 135 * _D), "l_hip_abd": (-20 * _D, 60 * _D), "l_knee": (0.0, 155 * _D),
    "r_hip_flex": (-35 * _D, 135 * _D), "r_hip_abd": (-20 * _D, 60 * _D), "r_knee": (0.0, 155 * _D),
}
_LO = np.full(NUM_PARAMS, -np.inf)
_HI = np.full(NUM_PARAMS, np.inf)
for _n, (_a, _b) in LIMITS.items():
    _LO[P[_n]], _HI[P[_n]] = _a, _b


def neutral_pose():
    """Standing upright, arms hanging slightly away from the body, facing the camera."""
    p = np.zeros(NUM_PARAMS)
    p[P["l_sh_abd"]] = p[P["r_sh_abd"]] = 8 * _D
    p[P["l_elbow"]] = p[P["r_elbow"]] = 10 * _D
    p[P["l_hip_abd"]] = p[P["r_hip_abd"]] = 3 * _D
    return p


def clamp_pose(pose):
    """Clip the joint angles of a pose (or a stack of poses) to ``LIMITS``."""
    return np.clip(pose, _LO, _HI)


@dataclass
class Body:
    """Body proportions; lengths are fractions of the standing height ``height`` (metres)."""

    height: float = 1.72
    width: float = 1.0      # shoulder/hip breadth factor
    girth: float = 1.0      # limb and torso thickness factor
    head: float = 1.0       # head size factor

    @classmethod
    def random(cls, rng, child=False):
        if child:
            h = rng.uniform(1.0, 1.45)
            return cls(h, rng.uniform(0.9, 1.05), rng.uniform(0.85, 1.05), rng.uniform(1.1, 1.25))
        return cls(rng.uniform(1.52, 1.92), rng.uniform(0.88, 1.15), rng.uniform(0.85, 1.3), rng.uniform(0.92, 1.08))


# Segment lengths and offsets as fractions of height.
ANKLE_H = 0.045
SHIN = 0.245
THIGH = 0.245
HIP_HALF = 0.055
SPINE = 0.28
SHOULDER_HALF = 0.105
UPPER_ARM = 0.172
FOREARM = 0.152
HAND = 0.095
HEAD_UP = 0.105          # neck keypoint -> head centre
HEAD_RX = 0.058          # head half-width
HEAD_RY = 0.07           # head half-height

# Extra points computed besides the 18 keypoints (indices after the keypoints).
EXTRA = ("head", "l_hand", "r_hand", "l_toe", "r_toe", "l_heel", "r_heel",
         "pelvis", "l_chest", "r_chest", "l_waist", "r_waist", "head_up", "head_fwd", "head_left")
X = {name: NUM_KEYPOINTS + i for i, name in enumerate(EXTRA)}
NUM_POINTS = NUM_KEYPOINTS + len(EXTRA)


def _rot(a, axis):
    """Rotation matrices (..., 3, 3) about a coordinate axis for angles of any shape."""
    a = np.asarray(a, dtype=np.float64)
    if a.ndim == 0:  # fast path for one pose
        c, s = float(np.cos(a)), float(np.sin(a))
        if axis == 0:
            return np.array([[1.0, 0.0, 0.0], [0.0, c, -s], [0.0, s, c]])
        if axis == 1:
            return np.array([[c, 0.0, s], [0.0, 1.0, 0.0], [-s, 0.0, c]])
        return np.array([[c, -s, 0.0], [s, c, 0.0], [0.0, 0.0, 1.0]])
    c, s = np.cos(a), np.sin(a)
    m = np.zeros(a.shape + (3, 3))
    i, j = [k for k in range(3) if k != axis]
    m[..., axis, axis] = 1.0
    m[..., i, i] = c
    m[..., j, j] = c
    # x and z rotations: +s below the diagonal; y rotation: +s above it
    sgn = -1.0 if axis == 1 else 1.0
    m[..., j, i] = sgn * s
    m[..., i, j] = -sgn * s
    return m


def _rx(a):
    return _rot(a, 0)


def _ry(a):
    return _rot(a, 1)


def _rz(a):
    return _rot(a, 2)


def _vec(x, y, z):
    """A vector (3,), or a stack (..., 3) when any coordinate is an array (one per body)."""
    shape = np.broadcast(x, y, z).shape
    if not shape:
        return np.array([x, y, z], dtype=np.float64)
    out = np.empty(shape + (3,))
    out[..., 0], out[..., 1], out[..., 2] = x, y, z
    return out


def _mv(m, v):
    """Matrices (..., 3, 3) times vectors (3,) or (..., 3)."""
    if v.ndim == 1:
        return m @ v
    return np.einsum("...ij,...j->...i", m, v)


def forward_kinematics(body, pose):
    """3D points ``(..., NUM_POINTS, 3)`` in world metres for pose vectors ``(..., NUM_PARAMS)``.

    Rows ``0..17`` are the keypoints in ``topology.KEYPOINTS`` order; rows ``X[name]`` the extras
    (``head_up``/``head_fwd``/``head_left`` are unit direction vectors, not points). The body is
    lowered or raised so that its lowest point rests on ``Y = pose[support]``. A stack of poses
    (a whole track) is computed in one vectorised pass; ``body`` may then also be a list of bodies,
    one per pose (a crowd).
    """
    q = np.asarray(pose, dtype=np.float64)
    lead = q.shape[:-1]
    if isinstance(body, (list, tuple)):
        h = np.array([b.height for b in body], dtype=np.float64)
        wf = np.array([b.width for b in body], dtype=np.float64)
        hs = h * np.array([b.head for b in body], dtype=np.float64)
    else:
        h, wf, hs = body.height, body.width, body.height * body.head
    pts = np.zeros(lead + (NUM_POINTS, 3))

    def a(name):
        return q[..., P[name]]

    root = _ry(a("yaw")) @ _rx(a("pitch")) @ _rz(a("roll"))
    chest = root @ _ry(a("spine_twist")) @ _rx(a("spine_bend")) @ _rz(-a("spine_side"))

    neck = _mv(chest, _vec(0.0, SPINE * h, 0.0))
    for side, sgn in (("l", 1.0), ("r", -1.0)):
        # legs
        hip = _mv(root, _vec(sgn * HIP_HALF * h * wf, 0.0, 0.0))
        thigh = root @ _rz(sgn * a(side + "_hip_abd")) @ _rx(-a(side + "_hip_flex"))
        knee = hip + _mv(thigh, _vec(0.0, -THIGH * h, 0.0))
        shin = thigh @ _rx(a(side + "_knee"))
        ankle = knee + _mv(shin, _vec(0.0, -SHIN * h, 0.0))
        pts[..., KP[side + "_hip"], :] = hip
        pts[..., KP[side + "_knee"], :] = knee
        pts[..., KP[side + "_ankle"], :] = ankle
        pts[..., X[side + "_toe"], :] = ankle + _mv(shin, _vec(0.0, -0.8 * ANKLE_H * h, 0.125 * h))
        pts[..., X[side + "_heel"], :] = ankle + _mv(shin, _vec(0.0, -0.8 * ANKLE_H * h, -0.03 * h))
        # arms
        sh = _mv(chest, _vec(sgn * SHOULDER_HALF * h * wf, SPINE * h, 0.0))
        upper = chest @ _rz(sgn * a(side + "_sh_abd")) @ _rx(-a(side + "_sh_flex"))
        elbow = sh + _mv(upper, _vec(0.0, -UPPER_ARM * h, 0.0))
        fore = upper @ _rx(-a(side + "_elbow"))
        wrist = elbow + _mv(fore, _vec(0.0, -FOREARM * h, 0.0))
        pts[..., KP[side + "_shoulder"], :] = sh
        pts[..., KP[side + "_elbow"], :] = elbow
        pts[..., KP[side + "_wrist"], :] = wrist
        pts[..., X[side + "_hand"], :] = wrist + _mv(fore, _vec(0.0, -HAND * h, 0.0))
        # torso outline centres
        pts[..., X[side + "_chest"], :] = _mv(chest, _vec(sgn * 0.072 * h * wf, (SPINE - 0.02) * h, 0.0))
        pts[..., X[side + "_waist"], :] = _mv(root, _vec(sgn * 0.058 * h * wf, 0.01 * h, 0.0))
    pts[..., KP["neck"], :] = (pts[..., KP["l_shoulder"], :] + pts[..., KP["r_shoulder"], :]) / 2.0

    head = chest @ _ry(a("head_yaw")) @ _rx(a("head_pitch"))
    centre = (neck + _mv(chest, _vec(0.0, 0.035 * h, 0.0))
              + _mv(head, _vec(0.0, HEAD_UP * hs - 0.035 * hs, 0.012 * hs)))
    pts[..., X["head"], :] = centre
    pts[..., KP["nose"], :] = centre + _mv(head, _vec(0.0, -0.012 * hs, 0.062 * hs))
    pts[..., KP["l_eye"], :] = centre + _mv(head, _vec(0.027 * hs, 0.014 * hs, 0.05 * hs))
    pts[..., KP["r_eye"], :] = centre + _mv(head, _vec(-0.027 * hs, 0.014 * hs, 0.05 * hs))
    pts[..., KP["l_ear"], :] = centre + _mv(head, _vec(0.062 * hs, 0.004 * hs, -0.006 * hs))
    pts[..., KP["r_ear"], :] = centre + _mv(head, _vec(-0.062 * hs, 0.004 * hs, -0.006 * hs))
    pts[..., X["head_up"], :] = head[..., :, 1]
    pts[..., X["head_fwd"], :] = head[..., :, 2]
    pts[..., X["head_left"], :] = head[..., :, 0]

    # rest the lowest body surface on the support; place at the floor position
    n = X["head_up"]
    lowest = (pts[..., :n, 1] - _THICK[:n] * np.asarray(h)[..., None]).min(axis=-1)
    pts[..., :n, 1] += (a("support") - lowest)[..., None]
    pts[..., :n, 0] += a("x")[..., None]
    pts[..., :n, 2] += a("z")[..., None]
    return pts


# how far the body surface reaches below each point (fraction of height), for resting on the floor
_THICK = np.zeros(NUM_POINTS)
_THICK[X["head"]] = HEAD_RX
_THICK[X["pelvis"]] = 0.07
_THICK[KP["neck"]] = 0.045
_THICK[[X["l_chest"], X["r_chest"]]] = 0.05
_THICK[[X["l_waist"], X["r_waist"]]] = 0.055
_THICK[[KP[k] for k in ("l_knee", "r_knee", "l_hip", "r_hip")]] = 0.035
_THICK[[KP[k] for k in ("l_elbow", "r_elbow", "l_shoulder", "r_shoulder", "l_wrist", "r_wrist")]] = 0.025
_THICK[[KP["l_ankle"], KP["r_ankle"]]] = 0.02


# A face keypoint is labelled (and drawn) when it turns towards the camera by more than this.
FACE_THRESHOLDS = {"nose": -0.15, "l_eye": 0.05, "r_eye": 0.05, "l_ear": -0.3, "r_ear": -0.3}


def face_facing(dirs_cam):
    """How much each face keypoint looks at the camera (-1..1) from the head's (up, forward, left)
    directions ``(..., 3, 3)`` in camera coordinates (camera z = viewing direction)."""
    fwd_z, left_z = dirs_cam[..., 1, 2], dirs_cam[..., 2, 2]
    return {
        "nose": -fwd_z,
        "l_eye": -(fwd_z + 0.45 * left_z) / 1.1, "r_eye": -(fwd_z - 0.45 * left_z) / 1.1,
        "l_ear": -left_z, "r_ear": left_z,
    }
