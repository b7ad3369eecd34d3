"""Posture (standing/sitting/lying/unknown with hysteresis) and bad seated posture."""
import numpy as np

from edgepose.analytics import Analyzer, AnalyticsConfig
from edgepose.analytics.badposture import side_angles
from edgepose.analytics.posture import PostureEstimator, body_features, inclination_deg
from edgepose.analytics.tracker import Tracker
from edgepose.topology import KP
from edgepose.types import Person
from helpers import SIZE, make_scene


def postures(name, seed=0):
    frames, _, _ = make_scene(name, seed)
    an = Analyzer(AnalyticsConfig(), "cam")
    out = []
    for t, people in frames:
        an.update(t, people, frame_size=SIZE)
        out.append((t, an.tracks[0].posture if an.tracks else None))
    return out


def at(seq, t):
    return min(seq, key=lambda x: abs(x[0] - t))[1]


def test_standing_sitting_lying():
    assert at(postures("standing"), 5.0) == "standing"
    sit = postures("sit_chair")
    assert at(sit, 1.0) == "standing" and at(sit, 6.0) == "sitting"
    fall = postures("fall_sideways")
    assert at(fall, 1.0) == "standing" and at(fall, 8.0) == "lying"


def test_hysteresis_ignores_a_one_frame_flicker():
    frames, _, _ = make_scene("standing", 0, jitter=0.0, dropout=0.0, frame_drop=0.0)
    tracker, est = Tracker(), PostureEstimator()
    lying = make_scene("fall_sideways", 0, jitter=0.0, dropout=0.0, frame_drop=0.0)[0][-1][1]
    for i, (t, people) in enumerate(frames[:60]):
        if i == 40:
            people = lying  # one bad frame
        for tr in tracker.update(t, people):
            est.update(tr, t)
        if i > 10:
            assert tracker.tracks[0].posture == "standing"


def test_unknown_without_torso():
    kps = np.full((18, 3), np.nan)
    kps[:, 2] = 0
    kps[KP["r_knee"]] = (10, 10, 0.9)
    assert body_features(kps) is None
    tr = Tracker().update(0.0, [Person(np.nan_to_num(kps, nan=np.nan), 0.5)])
    assert tr == []  # too few keypoints to track at all


def test_inclination():
    assert inclination_deg((0, 10), (0, 0)) == 0.0
    assert round(inclination_deg((0, 0), (10, 0))) == 90
    assert round(inclination_deg((0, 0), (0, 10))) == 180


def seated_side(neck_deg, torso_deg, x=200.0):
    """A seated person seen from the right side, with the given neck and torso inclinations."""
    k = np.full((18, 3), np.nan)
    k[:, 2] = 0.0
    hip = np.array([x, 300.0])
    t = np.radians(torso_deg)
    sh = hip + 90 * np.array([np.sin(t), -np.cos(t)])
    n = np.radians(neck_deg)
    ear = sh + 40 * np.array([np.sin(n), -np.cos(n)])
    knee = hip + [70, 0]
    ankle = knee + [0, 70]
    for name, p in (("r_hip", hip), ("l_hip", hip + [2, 0]), ("r_shoulder", sh), ("neck", sh + [-3, 0]),
                    ("r_ear", ear), ("r_knee", knee), ("r_ankle", ankle), ("nose", ear + [15, 5]),
                    ("r_eye", ear + [10, 0]), ("r_elbow", sh + [20, 50])):
        k[KP[name]] = (p[0], p[1], 0.9)
    return Person(k, 0.9)


def test_side_angles():
    neck, torso = side_angles(seated_side(45, 10).keypoints.tolist())
    assert round(neck) == 45 and round(torso) == 10


def test_bad_posture_sustained_then_corrected():
    cfg = AnalyticsConfig(bad_posture={"sustained_s": 5.0, "clear_s": 2.0, "gap_tolerance_s": 1.0})
    an = Analyzer(cfg, "desk")
    changes = []
    t = 0.0
    plan = [(3.0, 10, 5), (2.0, 50, 25), (0.5, 10, 5), (4.0, 50, 25), (4.0, 10, 5)]  # seconds, neck, torso
    for dur, neck, torso in plan:
        end = t + dur
        while t < end:
            changes += an.update(t, [seated_side(neck, torso)], frame_size=(480, 640))
            t += 0.1
    kinds = [(c.type, c.after.label) for c in changes]
    assert kinds == [("new", "bad_posture"), ("end", "bad_posture")]
    new, end = changes[0].after, changes[1].after
    assert abs(new.start_time - 3.0) < 0.3            # the brief correction did not reset the clock
    assert abs(new.detected_time - 8.0) < 0.3
    assert new.severity == "low" and new.attributes["neck_deg"] >= 45
    assert end.end_reason == "corrected" and abs(end.end_time - 11.5) < 0.5


def test_good_posture_never_alerts():
    an = Analyzer(AnalyticsConfig(bad_posture={"sustained_s": 2.0}), "desk")
    out = []
    for i in range(100):
        out += an.update(i * 0.1, [seated_side(20, 8)])
    assert out == []
