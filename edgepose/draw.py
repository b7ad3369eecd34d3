"""Overlays: skeletons drawn on images (in place), in source-image pixel coordinates.

Bones follow ``edgepose.topology.SKELETON`` and take the colour of their end keypoint
(``KEYPOINT_COLORS``, the usual OpenPose rainbow); line thickness and dot size scale with the
image, so overlays read the same on a 320x240 thumbnail and a 4K frame. OpenCV is imported lazily.
"""
import math

import numpy as np

from . import deps
from .topology import KEYPOINT_COLORS, SKELETON


def _scale(image):
    return max(1, int(round(min(image.shape[0], image.shape[1]) / 240.0)))


def draw_people(image, people, thickness=None, radius=None, min_score=0.0, label=True, color=None):
    """Draw each person's skeleton on ``image`` (BGR uint8, modified in place); returns the image.

    people: ``Person`` objects (or ``(18, 3)`` arrays) in the image's pixel coordinates.
    thickness/radius: bone width and keypoint dot radius in pixels (default: scaled to the image).
    min_score: keypoints scoring below it are not drawn. label: write the person score (and track
    id) above the person. color: one BGR colour for everything instead of the rainbow.
    """
    cv2 = deps.load("cv2", "drawing skeletons")

    t = thickness or _scale(image)
    rad = radius or max(2, t + 1)
    for person in people:
        kps = np.asarray(getattr(person, "keypoints", person), dtype=np.float64)
        ok = np.isfinite(kps[:, 0]) & np.isfinite(kps[:, 1]) & (kps[:, 2] >= min_score)
        pts = np.zeros((len(kps), 2), dtype=np.int64)
        pts[ok] = np.round(kps[ok, :2]).astype(np.int64)
        for a, b in SKELETON:
            if ok[a] and ok[b]:
                c = color or KEYPOINT_COLORS[b]
                cv2.line(image, tuple(int(v) for v in pts[a]), tuple(int(v) for v in pts[b]), c, t, cv2.LINE_AA)
        for k in np.flatnonzero(ok):
            c = color or KEYPOINT_COLORS[k]
            cv2.circle(image, tuple(int(v) for v in pts[k]), rad, c, -1, cv2.LINE_AA)
        if label and ok.any():
            score = getattr(person, "score", None)
            track = getattr(person, "track_id", None)
            text = []
            if track is not None:
                text.append("#%d" % track)
            if score is not None and math.isfinite(score):
                text.append("%.2f" % score)
            if text:
                x = int(pts[ok, 0].min())
                y = int(pts[ok, 1].min()) - 2 * rad
                scale = 0.35 * t
                cv2.putText(image, " ".join(text), (x, max(y, int(12 * scale) + 2)), cv2.FONT_HERSHEY_SIMPLEX,
                            scale, (255, 255, 255), max(1, t // 2), cv2.LINE_AA)
    return image
