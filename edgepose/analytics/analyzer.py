"""``Analyzer``: one per source; people in, event changes out.

Per frame: the tracker matches people to tracks, the posture estimator updates each matched track,
the fall, person-down and bad-posture detectors turn its history into signals, and the event
manager turns the signals into Frigate-style changes (with cooldown, zones and pacing). Nothing here
blocks or does I/O; a frame costs tens of microseconds per person.

Time: everything runs on ``AnalyticsClock`` time, which never goes backwards (a wall-clock step is
logged once and blinds nothing); event fields carry wall-clock time. ``reconfigure(config)`` applies
new thresholds in place: tracks, their states and open events carry on.
"""
import logging

import numpy as np

from .badposture import BadPostureDetector
from .clock import AnalyticsClock
from .config import AnalyticsConfig
from .events import EventManager
from .falls import FallDetector
from .ground import GroundModel
from .posture import PostureEstimator
from .slump import SlumpDetector
from .tracker import Tracker, person_center
from .zones import Zones

log = logging.getLogger(__name__)

_FALL_LABELS = ("fall", "long_lie")
_GROUND_MIN_CONF = 0.5  # keypoint confidence a standing person needs to teach the ground model
_DOWN_LABELS = ("fall", "long_lie", "person_down")  # kept open while the person is out of sight


def _iou(a, b):
    if a is None or b is None:
        return 0.0
    ix = max(0.0, min(a[2], b[2]) - max(a[0], b[0]))
    iy = max(0.0, min(a[3], b[3]) - max(a[1], b[1]))
    inter = ix * iy
    union = (a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - inter
    return inter / union if union > 0 else 0.0


def _grow(box, k):
    w, h = box[2] - box[0], box[3] - box[1]
    return (box[0] - k * w, box[1] - k * h, box[2] + k * w, box[3] + k * h)


def _with_pose(change, tr):
    """The change with the person's smoothed keypoints (18, 3), for the snapshot's overlay."""
    change.keypoints = tr.keypoints.copy()
    return change


class Analyzer(object):
    """Analytics for one source. ``update(t, people, frame_size=(H, W)) -> List[EventChange]``."""

    def __init__(self, config=None, source="default"):
        self.config = cfg = config or AnalyticsConfig()
        self.source = source
        self.clock = AnalyticsClock(source)
        self.tracker = Tracker(cfg.tracker)
        self.posture = PostureEstimator(cfg.posture)
        self.falls = FallDetector(cfg.fall)
        self.slump = SlumpDetector(cfg.fall)
        self.bad_posture = BadPostureDetector(cfg.bad_posture)
        self.zones = Zones(cfg.zones, source)
        # how tall a standing person looks at each foot row, learned from this source; kept across reloads
        self.ground = GroundModel(cfg.posture.ground_memory_s)
        self.events = EventManager(source, cfg.events, wall=self.clock.to_wall)
        # a lost track's open down events: primary id -> {"since", "box", "events", "state", "slump"}
        self._orphans = {}
        self.frame_size = None

    @property
    def last_t(self):
        """Analytics time of the last frame (None before the first)."""
        return self.clock.now

    @property
    def tracks(self):
        """Current tracks (``Track``: track_id, keypoints smoothed (18, 3), posture, box())."""
        return self.tracker.tracks

    def reconfigure(self, config):
        """Apply ``config`` in place: tracks, their states and open events carry on under the new
        thresholds (an open fall stays open, its long-lie timer keeps running)."""
        self.config = config
        self.tracker.configure(config.tracker)
        self.posture.cfg = config.posture
        self.ground.tau_s = config.posture.ground_memory_s  # what was learned stays
        self.falls.cfg = config.fall
        self.slump.cfg = config.fall
        self.bad_posture.cfg = config.bad_posture
        self.zones = Zones(config.zones, self.source)
        self.events.cfg = config.events

    def update(self, t, people, frame_size=None):
        t = self.clock(t)
        if frame_size is not None:
            self.frame_size = (int(frame_size[0]), int(frame_size[1]))
        changes = []
        tracks = self.tracker.update(t, people)
        fall_cfg = self.config.fall
        for tr in tracks:
            if not tr.matched:
                continue
            self.posture.update(tr, t, self.ground)
            if fall_cfg.enabled:
                for sig, info in self.falls.update(tr, t):
                    changes.extend(self._on_fall_signal(tr, t, sig, info))
                if fall_cfg.person_down:
                    for sig, info in self.slump.update(tr, t):
                        changes.extend(self._on_slump_signal(tr, t, sig, info))
            for sig, info in self.bad_posture.update(tr, t):
                changes.extend(self._on_posture_signal(tr, t, sig, info))
            changes.extend(self._refresh(tr, t))
        self._learn_ground(t, tracks)
        for tr in self.tracker.removed:
            changes.extend(self._on_track_lost(tr, t))
        if self._orphans:
            changes.extend(self._adopt_orphans(t, tracks))
        return [c for c in changes if c is not None]

    def _learn_ground(self, t, tracks):
        """Feed this frame's confidently standing people to the ground model (one vectorised step)."""
        rows = [(f.ankle_y, f.ankle_y - f.head_y) for f in (tr.features for tr in tracks if tr.matched)
                if f is not None and f.tall and f.head_hang is not None and f.ankle_y is not None
                and f.conf >= _GROUND_MIN_CONF]
        if rows:
            a = np.asarray(rows, dtype=np.float64)
            self.ground.add(t, a[:, 0], a[:, 1])

    def finish(self, t=None, reason="stopped"):
        """End every open event (at shutdown); returns the 'end' changes."""
        t = self.last_t if t is None else t
        return [self.events.end(eid, t or 0.0, reason) for eid in list(self.events.open_events)]

    # -- falls -------------------------------------------------------------------------------
    def _on_fall_signal(self, tr, t, sig, info):
        evs = tr.events
        if sig == "fall":
            center = person_center(tr.keypoints)
            allowed, names = self.zones.falls_allowed(center, self.frame_size)
            if not allowed:
                log.info("%s: track %d down inside zone(s) %s: no fall alert", self.source, tr.track_id,
                         ",".join(names) or "(outside the only-zones)")
                tr.fall_state.phase = "deliberate"
                return []
            speed = info["speed_body_heights_per_s"] / self.config.fall.velocity_body_heights_per_s
            drop = info["drop_body_heights"] / self.config.fall.drop_body_heights
            score = min(1.0, 0.4 + 0.3 * min(speed, 2.0) / 2.0 + 0.3 * min(drop, 2.0) / 2.0)
            attrs = {"impact_time": round(self.clock.to_wall(info["impact_t"]), 3),
                     "speed_body_heights_per_s": info["speed_body_heights_per_s"],
                     "drop_body_heights": info["drop_body_heights"]}
            ch = self.events.new("fall", t, tr.track_id, info["start_t"], score, tr.box(), names, attrs)
            if ch is not None:
                evs["fall"] = ch.after.id
                return [_with_pose(ch, tr)]
            orphan = self._take_orphan(tr)  # the same fall seen through a new track
            return orphan
        if sig == "long_lie":
            out = []
            fid = evs.get("fall")
            fev = self.events.open_events.get(fid) if fid else None
            score = fev.score if fev else 0.8
            ch = self.events.new("long_lie", t, tr.track_id, info["impact_t"], score, tr.box(),
                                 fev.zones if fev else (), {"fall_id": fid})
            if ch is not None:
                evs["long_lie"] = ch.after.id
                out.append(_with_pose(ch, tr))
            if fev:
                out.append(self.events.update(fid, t, force=True, severity="critical",
                                              attributes={"long_lie": True}))
            return out
        if sig == "recovered":
            return self._end_track_events(tr, t, _FALL_LABELS, "recovered")
        return []

    def _end_track_events(self, tr, t, labels, reason):
        evs = tr.events
        out = []
        for label in labels:
            eid = evs.pop(label, None)
            if eid:
                out.append(self.events.end(eid, t, reason))
        return out

    # -- person down without a fall ----------------------------------------------------------------
    def _on_slump_signal(self, tr, t, sig, info):
        evs = tr.events
        if sig == "person_down":
            if evs.get("fall") or evs.get("person_down"):
                return []  # a fall is open: that alert already says the person is down
            center = person_center(tr.keypoints)
            allowed, names = self.zones.falls_allowed(center, self.frame_size)
            if not allowed:
                log.info("%s: track %d slumped inside zone(s) %s: no alert", self.source, tr.track_id,
                         ",".join(names) or "(outside the only-zones)")
                return []
            ch = self.events.new("person_down", t, tr.track_id, info["start_t"], 0.7, tr.box(), names,
                                 {"head_hang_body_heights": info["head_hang_body_heights"]})
            if ch is None:
                return []
            evs["person_down"] = ch.after.id
            return [_with_pose(ch, tr)]
        if sig == "person_down_end":
            return self._end_track_events(tr, t, ("person_down",), "recovered")
        return []

    # -- lost tracks ---------------------------------------------------------------------------------
    def _on_track_lost(self, tr, t):
        """Bad posture ends with the track; a down person's events wait (``lost_end_s``) for the
        person to be found again, possibly as a new track."""
        out = self._end_track_events(tr, t, ("bad_posture",), "lost")
        held = {label: eid for label, eid in tr.events.items()
                if label in _DOWN_LABELS and eid in self.events.open_events}
        if held:
            key = held.get("fall") or held.get("person_down") or next(iter(held.values()))
            self._orphans[key] = {"since": tr.last_t, "box": tr.box(), "events": held,
                                  "state": tr.fall_state, "slump": tr.slump_state}
        return out

    def _take_orphan(self, tr):
        """Give ``tr`` the nearest orphaned fall it overlaps, if any (no change is emitted)."""
        for key, o in list(self._orphans.items()):
            if "fall" in o["events"] and o["box"] is not None and _iou(_grow(o["box"], 0.5), tr.box()) > 0:
                self._bind(tr, key, o)
                return []
        return []

    def _bind(self, tr, key, o):
        del self._orphans[key]
        tr.events.update(o["events"])
        old = o.get("state")
        st = tr.fall_state
        if "fall" in o["events"] and st is not None and old is not None:
            impact = old.impact_t if old.impact_t is not None else (
                st.impact_t if st.impact_t is not None else tr.last_t)
            st.update(phase="active", impact_t=impact, info=old.info, long_lie=old.long_lie, up_since=None)
        if "person_down" in o["events"] and o.get("slump") is not None:
            tr.slump_state = o["slump"]

    def _adopt_orphans(self, t, tracks):
        out = []
        for key, o in list(self._orphans.items()):
            live = {label: eid for label, eid in o["events"].items() if eid in self.events.open_events}
            if not live:
                del self._orphans[key]
                continue
            o["events"] = live
            for tr in tracks:
                f = tr.features
                if not tr.matched or f is None or any(tr.events.get(label) for label in _DOWN_LABELS):
                    continue
                fallen = "fall" in o["events"] or "long_lie" in o["events"]
                if not (f.down or (not fallen and f.hip_drop is not None and f.hip_drop > 0.08)):
                    continue
                if o["box"] is not None and _iou(_grow(o["box"], 0.5), tr.box()) > 0:
                    self._bind(tr, key, o)
                    break
            else:
                if t - o["since"] >= self.config.fall.lost_end_s:
                    del self._orphans[key]
                    out.extend(self.events.end(eid, t, "lost") for eid in live.values())
        return out

    # -- bad posture ---------------------------------------------------------------------------
    def _on_posture_signal(self, tr, t, sig, info):
        evs = tr.events
        if sig == "bad_posture":
            attrs = {"neck_deg": info["neck_deg"], "torso_deg": info["torso_deg"]}
            ch = self.events.new("bad_posture", t, tr.track_id, info["start_t"], tr.posture_confidence,
                                 tr.box(), self.zones.inside(person_center(tr.keypoints), self.frame_size),
                                 attrs)
            if ch is not None:
                evs["bad_posture"] = ch.after.id
                ch = _with_pose(ch, tr)
            return [ch]
        if sig == "bad_posture_end":
            return self._end_track_events(tr, t, ("bad_posture",), "corrected")
        return []

    def _refresh(self, tr, t):
        """Paced 'update' changes when an open event's person moved noticeably."""
        out = []
        evs = tr.events
        if not evs:
            return out
        box = tr.box()
        for label, eid in evs.items():
            ev = self.events.open_events.get(eid)
            if ev is None or box is None or ev.box is None:
                continue
            if _iou(ev.box, box) < 0.7:
                out.append(self.events.update(eid, t, box=box))
        return out
