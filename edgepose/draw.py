"""Overlays: skeletons, tracked people and alerts drawn on images (in place), in source-image pixels.

- ``draw_people``: skeletons. Bones follow ``edgepose.topology.SKELETON`` and take the colour of their
  end keypoint (``KEYPOINT_COLORS``, the usual OpenPose rainbow).
- ``draw_tracks``: per tracked person a box and a tag "#3 lying", red with the alert ("#3 lying
  FALL") while a fall or long lie is open.
- ``draw_alert_banner``: a bar across the top naming the open alerts and whose they are.
- ``draw_result``: all three for one ``FrameResult`` (what ``edgepose run --out/--show`` and the demo
  write).

Sizes scale with the image, so overlays read the same on a 320x240 thumbnail and a 4K frame; text
sits on a filled box so that it stays legible on any background and neighbours do not run together.
OpenCV is imported lazily.
"""
import math

import numpy as np

from . import deps
from .topology import KEYPOINT_COLORS, SKELETON

_WHITE = (255, 255, 255)
_GREY = (200, 200, 200)
_RED = (0, 0, 220)
_ORANGE = (0, 140, 255)
_ALERT_COLORS = {"fall": _RED, "long_lie": _RED, "bad_posture": _ORANGE}
_ALERT_NAMES = {"fall": "FALL", "long_lie": "LONG LIE", "bad_posture": "BAD POSTURE"}


def _cv2():
    return deps.load("cv2", "drawing overlays")


def _scale(image):
    return max(1, int(round(min(image.shape[0], image.shape[1]) / 240.0)))


def _text(image, text, x, y, scale, color=_WHITE, background=(0, 0, 0), thickness=1):
    """``text`` with its baseline-left at (x, y), on a filled box, kept inside the image; returns its
    (width, height)."""
    cv2 = _cv2()
    (w, h), base = cv2.getTextSize(text, cv2.FONT_HERSHEY_SIMPLEX, scale, thickness)
    pad = max(1, int(round(2 * scale)))
    x = int(min(max(x, 0), max(0, image.shape[1] - w - 2 * pad)))
    y = int(min(max(y, h + 2 * pad), image.shape[0] - base - pad))
    cv2.rectangle(image, (x, y - h - pad), (x + w + 2 * pad, y + base + pad), background, -1)
    cv2.putText(image, text, (x + pad, y), cv2.FONT_HERSHEY_SIMPLEX, scale, color, thickness, cv2.LINE_AA)
    return w + 2 * pad, h + base + 2 * pad


def draw_people(image, people, thickness=None, radius=None, min_score=0.0, label=True, color=None):
    """Draw each person's skeleton on ``image`` (BGR uint8, modified in place); returns the image.

    people: ``Person`` objects (or ``(18, 3)`` arrays) in the image's pixel coordinates.
    thickness/radius: bone width and keypoint dot radius in pixels (default: scaled to the image).
    min_score: keypoints scoring below it are not drawn. label: tag each person with its score (and
    track id) above its head. color: one BGR colour for everything instead of the rainbow.
    """
    cv2 = _cv2()
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
                _text(image, " ".join(text), int(pts[ok, 0].min()), int(pts[ok, 1].min()) - 2 * rad, 0.35 * t)
    return image


def track_tag(track):
    """'#3 lying', '#3 lying FALL', '#2 sitting BAD POSTURE': what ``draw_tracks`` writes."""
    parts = ["#%d" % track.track_id]
    if track.posture and track.posture != "unknown":
        parts.append(track.posture)
    parts += [_ALERT_NAMES.get(a, a.upper()) for a in track.alerts]
    return " ".join(parts)


def _track_color(track):
    for label in ("fall", "long_lie", "bad_posture"):
        if label in track.alerts:
            return _ALERT_COLORS[label]
    return _GREY


def draw_tracks(image, tracks):
    """A box and a tag (``track_tag``) per ``TrackInfo``; red while a fall or long lie is open."""
    cv2 = _cv2()
    t = _scale(image)
    for tr in tracks:
        if tr.box is None:
            continue
        x0, y0, x1, y1 = (int(round(v)) for v in tr.box)
        pad = 4 * t
        color = _track_color(tr)
        alert = color is not _GREY
        cv2.rectangle(image, (x0 - pad, y0 - pad), (x1 + pad, y1 + pad), color, 2 * t if alert else t, cv2.LINE_AA)
        _text(image, track_tag(tr), x0 - pad, y0 - pad - 2 * t, 0.4 * t, _WHITE, color if alert else (60, 60, 60),
              max(1, t // 2 + (1 if alert else 0)))
    return image


def alert_summary(tracks, other=()):
    """'FALL #3, LONG LIE #3' for the open alerts of ``tracks``, plus the labels in ``other`` (open
    alerts of people out of view) without an id; '' when none."""
    parts = []
    for label in ("fall", "long_lie", "bad_posture"):
        ids = [tr.track_id for tr in tracks if label in tr.alerts]
        if ids:
            parts.append("%s %s" % (_ALERT_NAMES[label], " ".join("#%d" % i for i in ids)))
        elif label in other:
            parts.append(_ALERT_NAMES[label])
    return ", ".join(parts)


def draw_alert_banner(image, tracks, other=()):
    """A bar across the top: red "ALERT: FALL #3" while a fall or long lie is open, orange for bad
    posture; nothing when no alert is open. ``other``: labels of open alerts whose person is not on
    this frame (e.g. a fall whose track was lost). Returns the image."""
    text = alert_summary(tracks, other)
    if not text:
        return image
    cv2 = _cv2()
    h, w = image.shape[:2]
    scale = max(0.45, w / 900.0)
    labels = set(other) | {label for tr in tracks for label in tr.alerts}
    falls = bool(labels & {"fall", "long_lie"})
    bar = int(30 * scale)
    cv2.rectangle(image, (0, 0), (w, bar), _RED if falls else _ORANGE, -1)
    cv2.putText(image, "ALERT: " + text, (8, int(bar * 0.72)), cv2.FONT_HERSHEY_SIMPLEX, 0.75 * scale, _WHITE,
                max(1, int(round(2 * scale))), cv2.LINE_AA)
    return image


def draw_result(image, result, other_alerts=()):
    """Skeletons, tracked people and the alert banner of a ``FrameResult`` on ``image`` (in place).
    Without tracks (``--no-analytics``) each skeleton is tagged with its score instead.
    other_alerts: labels of open alerts whose person is not on this frame (see ``draw_alert_banner``)."""
    tracks = getattr(result, "tracks", None) or []
    draw_people(image, result.people, label=not tracks)
    draw_tracks(image, tracks)
    draw_alert_banner(image, tracks, other_alerts)
    return image
