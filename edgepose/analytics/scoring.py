"""Scoring fall detection against labelled sequences (recall, false alarms, detection delay).

Used by ``tools/fall_report.py``, ``tools/fall_e2e.py``, ``tools/demo.py`` and the scenario tests. Frames are recording-schema dicts (as
``edgepose.synth`` makes them); ``perturb`` adds realistic detector noise: keypoint jitter relative
to each person's size, keypoint dropout and dropped frames. The one matching rule (``match_falls``):
a fall alert matches a truth fall when it is raised between ``EARLY_S`` before the fall's start and
``max_delay_s`` after its impact; each alert matches one fall at most; every other fall alert is a
false alarm, except one raised for a real fall that lands out of view (left out of the score as
invisible: neither a detection nor a false alarm). Scored alerts are 'fall' and 'person_down' (a slow
slide that ends slumped is reported as a person down, not as a fall).

The window is the same for a slow slide down a wall as for a fall, on purpose: the slide's ``impact_t``
is the moment it ends, the person at rest on the floor, which is when a carer needs to know, just as
after a fall's impact. The detector has the whole slide (2.5-4.5 s in the scenarios) plus
``MAX_DELAY_S`` to see it; a person_down alert later than that is late, and is scored as a miss plus
an unmatched alert, not given a wider window.
"""
import numpy as np

from ..types import Person
from .analyzer import Analyzer
from .config import AnalyticsConfig

EARLY_S = 0.5        # an alert may come this much before the truth's start (the motion began earlier)
MAX_DELAY_S = 2.0    # ... and at most this long after the impact


def perturb(frames, seed, jitter_body_heights=0.01, dropout=0.05, frame_drop=0.03):
    """Noisy copies of recording-schema frames: list of (t, [Person], (H, W))."""
    rng = np.random.default_rng(seed)
    out = []
    for fr in frames:
        if frame_drop and rng.random() < frame_drop:
            continue
        people = []
        for p in fr["people"]:
            k = np.array([[np.nan if v[0] is None else v[0], np.nan if v[1] is None else v[1], v[2] or 0.0]
                          for v in p["keypoints"]], dtype=np.float64)
            ok = ~np.isnan(k[:, 0])
            if ok.sum() >= 2:
                size = max(np.ptp(k[ok, 1]), np.ptp(k[ok, 0]) * 0.5, 1.0)
                k[ok, :2] += rng.normal(0.0, jitter_body_heights * size, (int(ok.sum()), 2))
            drop = ok & (rng.random(len(k)) < dropout)
            k[drop] = (np.nan, np.nan, 0.0)
            k[~np.isnan(k[:, 0]), 2] = np.clip(k[~np.isnan(k[:, 0]), 2] * rng.uniform(0.7, 1.0), 0.05, 1.0)
            people.append(Person(k, p.get("score", 0.8)))
        out.append((fr["t"], people, (fr["height"], fr["width"])))
    return out


def clean(frames):
    return [(fr["t"], [Person.from_json(p) for p in fr["people"]], (fr["height"], fr["width"])) for fr in frames]


def run_frames(frames, config=None, zones=(), source="synth"):
    """Run (t, people, size) frames through a fresh Analyzer; returns all changes."""
    cfg = config or AnalyticsConfig()
    if zones:
        cfg = cfg.model_copy(update={"zones": list(cfg.zones) + AnalyticsConfig(zones=list(zones)).zones})
    an = Analyzer(cfg, source)
    changes = []
    for t, people, size in frames:
        changes.extend(an.update(t, people, frame_size=size))
    return changes


def match_falls(alert_times, truth, max_delay_s=MAX_DELAY_S, hidden=()):
    """Pair truth falls with fall alerts (times on the truth's clock).

    Returns ``(matches, false_alarms)``: ``matches`` has one ``(truth fall, alert index or None)`` per
    fall of ``truth`` (dicts with ``start_t``, ``impact_t``, ``label`` "fall" by default), in order.
    ``hidden`` are real falls left out of the score (the person lands out of view): an alert in one's
    window is neither a detection nor a false alarm.
    """
    used, matches = set(), []
    for tr in truth:
        if tr.get("label", "fall") != "fall":
            continue
        hit = None
        for i, t in enumerate(alert_times):
            if i not in used and tr["start_t"] - EARLY_S <= t <= tr["impact_t"] + max_delay_s:
                hit = i
                used.add(i)
                break
        matches.append((tr, hit))
    for tr in hidden:
        for i, t in enumerate(alert_times):
            if i not in used and tr["start_t"] - EARLY_S <= t <= tr["impact_t"] + max_delay_s:
                used.add(i)
                break
    return matches, len(alert_times) - len(used)


ALERT_LABELS = ("fall", "person_down")  # the alerts that say "someone is on the floor"


def fall_alerts(changes, labels=ALERT_LABELS):
    """The ``Event`` of every 'new' fall (and person-down) change, in order: both tell a carer that
    someone is down, so both match truth falls and both count as false alarms elsewhere."""
    return [c.after for c in changes if c.type == "new" and c.after.label in labels]


def score(changes, truth, max_delay_s=MAX_DELAY_S, hidden=()):
    """{'falls', 'detected', 'delays', 'false_alarms', 'alerts'} for one sequence (``hidden``: see
    ``match_falls``)."""
    alerts = fall_alerts(changes)
    matches, false_alarms = match_falls([a.detected_time for a in alerts], truth, max_delay_s, hidden)
    delays = [alerts[i].detected_time - tr["impact_t"] for tr, i in matches if i is not None]
    return {"falls": len(matches), "detected": len(delays), "delays": delays,
            "false_alarms": false_alarms, "alerts": alerts}


def torso_visible_after(frames, fall, window_s=1.5):
    """Share of frames in the ``window_s`` after a truth fall's impact where the fallen person's torso
    (neck or both shoulders, and a hip) is in the ground truth at all: a fall that lands out of the
    picture (or behind furniture) cannot be seen by any pose-based detector."""
    n = ok = 0
    for fr in frames:
        if not fall["impact_t"] <= fr["t"] <= fall["impact_t"] + window_s:
            continue
        n += 1
        for p in fr["people"]:
            if p.get("track_id", fall.get("track_id")) != fall.get("track_id"):
                continue
            k = p["keypoints"]
            neck = k[1][0] is not None or (k[2][0] is not None and k[5][0] is not None)
            if neck and (k[8][0] is not None or k[11][0] is not None):
                ok += 1
            break
    return ok / float(n) if n else 0.0


def visible_falls(frames, truth, min_share=0.5):
    """``(visible, hidden)``: the truth falls whose torso is in the picture after the impact
    (``torso_visible_after`` at least ``min_share``) and the rest, which the score leaves out."""
    visible = [f for f in truth if torso_visible_after(frames, f) >= min_share]
    return visible, [f for f in truth if f not in visible]
