"""The small typed values that travel between the boxes of the flow.

``Frame`` (source -> preprocess), ``Person`` (decode -> analytics), ``TrackInfo`` (analytics ->
overlays: who is who on a frame, in which posture, with which alert). Keypoints are always a float
array of shape ``(18, 3)``: x, y, score, in BodyPoseNet keypoint order; a missing keypoint has
x = y = NaN and score 0.
"""
from dataclasses import dataclass, field
from typing import List, Optional, Tuple

import numpy as np

from .errors import InputError
from .topology import NUM_KEYPOINTS


@dataclass
class Frame:
    """One captured image.

    image: ``(H, W, 3)`` uint8 BGR. t: capture time in seconds (``time.time()`` for live sources,
    media time for files). index: frame number from the source, starting at 0. source: its name.
    """

    image: np.ndarray
    t: float
    index: int
    source: str = "default"

    @property
    def height(self):
        return int(self.image.shape[0])

    @property
    def width(self):
        return int(self.image.shape[1])


@dataclass
class Person:
    """One detected person: ``keypoints`` (18, 3) = x, y, score (NaN, NaN, 0 where missing); ``score``."""

    keypoints: np.ndarray
    score: float = 0.0
    track_id: Optional[int] = None

    def __post_init__(self):
        kps = np.asarray(self.keypoints, dtype=np.float32)
        if kps.shape != (NUM_KEYPOINTS, 3):
            raise InputError("Person keypoints: expected shape (%d, 3), got %s" % (NUM_KEYPOINTS, kps.shape))
        self.keypoints = kps
        self.score = float(self.score)

    @property
    def present(self):
        """Boolean mask (18,) of the keypoints that were found."""
        return ~np.isnan(self.keypoints[:, 0])

    @property
    def num_parts(self):
        return int(self.present.sum())

    def box(self):
        """(x0, y0, x1, y1) around the present keypoints, or None when there are none."""
        p = self.keypoints[self.present]
        if len(p) == 0:
            return None
        return (float(p[:, 0].min()), float(p[:, 1].min()), float(p[:, 0].max()), float(p[:, 1].max()))

    def to_json(self):
        """``{"score", "keypoints": [[x, y, s] x 18]}`` with ``[None, None, 0]`` for a missing keypoint."""
        kps = []
        for x, y, s in self.keypoints.tolist():
            if x != x:  # NaN
                kps.append([None, None, 0])
            else:
                kps.append([round(x, 2), round(y, 2), round(s, 4)])
        out = {"score": round(self.score, 4), "keypoints": kps}
        if self.track_id is not None:
            out["track_id"] = int(self.track_id)
        return out

    @classmethod
    def from_json(cls, obj):
        """Inverse of :meth:`to_json`."""
        rows = obj.get("keypoints")
        if not isinstance(rows, list) or len(rows) != NUM_KEYPOINTS:
            raise InputError("person: 'keypoints' must be a list of %d [x, y, s] triples" % NUM_KEYPOINTS)
        kps = np.array(
            [[np.nan if r[0] is None else r[0], np.nan if r[1] is None else r[1], r[2] or 0.0] for r in rows],
            dtype=np.float32,
        )
        return cls(kps, float(obj.get("score", 0.0)), obj.get("track_id"))


@dataclass
class TrackInfo:
    """One tracked person as seen on one frame, for overlays and viewers.

    track_id: the tracker's stable id. box: (x0, y0, x1, y1) in source-image pixels, or None.
    posture: standing / sitting / lying / unknown. alerts: labels of the person's open events
    (fall, long_lie, bad_posture), sorted. keypoints: (18, 3) smoothed x, y, score.
    """

    track_id: int
    box: Optional[Tuple[float, float, float, float]]
    posture: str = "unknown"
    alerts: Tuple[str, ...] = ()
    keypoints: Optional[np.ndarray] = None


def people_to_json(people: List[Person]):
    return [p.to_json() for p in people]


def keypoints_array(people: List[Person]):
    """Stack people into a ``(N, 18, 3)`` float32 array (``(0, 18, 3)`` for none)."""
    if not people:
        return np.zeros((0, NUM_KEYPOINTS, 3), dtype=np.float32)
    return np.stack([p.keypoints for p in people])
