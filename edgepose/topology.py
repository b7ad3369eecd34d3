"""BodyPoseNet's skeleton: 18 keypoints and 19 limbs in TAO order, drawing colours, COCO-17 mapping.

Keypoint (heatmap channel) order and limb order are NVIDIA TAO BodyPoseNet's; limb ``k`` of the
deployable model uses PAF channels ``2k`` (x) and ``2k+1`` (y), vector from the first part to the
second. Other model families describe their own PAF channel layout in their profile; the keypoint
order is shared by the whole OpenPose COCO-18 family.
"""
import numpy as np

KEYPOINTS = (
    "nose", "neck",
    "r_shoulder", "r_elbow", "r_wrist",
    "l_shoulder", "l_elbow", "l_wrist",
    "r_hip", "r_knee", "r_ankle",
    "l_hip", "l_knee", "l_ankle",
    "r_eye", "l_eye", "r_ear", "l_ear",
)
NUM_KEYPOINTS = len(KEYPOINTS)  # 18; heatmap channel 18 is the background
KP = {name: i for i, name in enumerate(KEYPOINTS)}

# TAO BodyPoseNet limb order (limb k -> PAF channels 2k, 2k+1).
LIMBS = (
    ("neck", "r_hip"), ("r_hip", "r_knee"), ("r_knee", "r_ankle"),
    ("neck", "l_hip"), ("l_hip", "l_knee"), ("l_knee", "l_ankle"),
    ("neck", "r_shoulder"), ("r_shoulder", "r_elbow"), ("r_elbow", "r_wrist"),
    ("r_shoulder", "r_ear"),
    ("neck", "l_shoulder"), ("l_shoulder", "l_elbow"), ("l_elbow", "l_wrist"),
    ("l_shoulder", "l_ear"),
    ("neck", "nose"), ("nose", "r_eye"), ("nose", "l_eye"),
    ("r_eye", "r_ear"), ("l_eye", "l_ear"),
)
LIMB_INDEX = np.array([[KP[a], KP[b]] for a, b in LIMBS], dtype=np.int64)  # (19, 2)

# Bones drawn in overlays (the shoulder-ear limbs are redundant with eye-ear, so they are not drawn).
SKELETON = tuple((KP[a], KP[b]) for a, b in LIMBS if not (a.endswith("shoulder") and b.endswith("ear")))

# BGR colours, one per keypoint, in the usual OpenPose rainbow; bones take their end keypoint's colour.
KEYPOINT_COLORS = (
    (0, 0, 255), (0, 85, 255), (0, 170, 255), (0, 255, 255), (0, 255, 170), (0, 255, 85),
    (0, 255, 0), (85, 255, 0), (170, 255, 0), (255, 255, 0), (255, 170, 0), (255, 85, 0),
    (255, 0, 0), (255, 0, 85), (255, 0, 170), (255, 0, 255), (170, 0, 255), (85, 0, 255),
)

# COCO-17 order and where each COCO keypoint sits in the 18-keypoint order (the neck has no COCO twin).
COCO17 = (
    "nose", "l_eye", "r_eye", "l_ear", "r_ear", "l_shoulder", "r_shoulder", "l_elbow", "r_elbow",
    "l_wrist", "r_wrist", "l_hip", "r_hip", "l_knee", "r_knee", "l_ankle", "r_ankle",
)
COCO17_FROM_BPNET = np.array([KP[n] for n in COCO17], dtype=np.int64)  # (17,)

# COCO OKS sigmas per keypoint, in the 18-keypoint order; the neck borrows the shoulders' value.
_COCO_SIGMAS = {
    "nose": 0.026, "l_eye": 0.025, "r_eye": 0.025, "l_ear": 0.035, "r_ear": 0.035,
    "l_shoulder": 0.079, "r_shoulder": 0.079, "l_elbow": 0.072, "r_elbow": 0.072,
    "l_wrist": 0.062, "r_wrist": 0.062, "l_hip": 0.107, "r_hip": 0.107,
    "l_knee": 0.087, "r_knee": 0.087, "l_ankle": 0.089, "r_ankle": 0.089, "neck": 0.079,
}
OKS_SIGMAS = np.array([_COCO_SIGMAS[n] for n in KEYPOINTS], dtype=np.float64)  # (18,)

# Left/right pairs for horizontal flips (used by augmentation and the synthetic renderer).
FLIP_PAIRS = tuple(
    (KP[n], KP["l_" + n[2:]]) for n in KEYPOINTS if n.startswith("r_")
)
FLIP_INDEX = np.arange(NUM_KEYPOINTS)
for _r, _l in FLIP_PAIRS:
    FLIP_INDEX[_r], FLIP_INDEX[_l] = _l, _r


def to_coco17(keypoints):
    """Take ``(..., 18, C)`` keypoints in BodyPoseNet order to ``(..., 17, C)`` in COCO order."""
    return np.asarray(keypoints)[..., COCO17_FROM_BPNET, :]


def from_coco17(keypoints, fill=np.nan):
    """Take ``(..., 17, C)`` COCO keypoints to ``(..., 18, C)``; the neck is the shoulders' midpoint.

    The neck is only set where both shoulders are present (non-NaN x); its score is the smaller one.
    """
    kps = np.asarray(keypoints, dtype=np.float64)
    out = np.full(kps.shape[:-2] + (NUM_KEYPOINTS, kps.shape[-1]), fill, dtype=np.float64)
    out[..., COCO17_FROM_BPNET, :] = kps
    rs, ls = out[..., KP["r_shoulder"], :], out[..., KP["l_shoulder"], :]
    neck = (rs + ls) / 2.0
    if kps.shape[-1] > 2:
        neck[..., 2:] = np.minimum(rs[..., 2:], ls[..., 2:])
    out[..., KP["neck"], :] = neck
    return out
