"""The event feed: Frigate-style changes ``{"type": "new"|"update"|"end", "before", "after"}``.

An event object has a stable ``id`` and the keys ``label, source, track_id, start_time,
detected_time, end_time, score, severity, box, has_snapshot, snapshot`` plus ``zones``,
``attributes`` and ``end_reason``. Changes carry copies, so a sink may fill ``has_snapshot`` and
``snapshot`` in a change (the snapshot sink does, before the other sinks see it) without touching
the manager's state. Ids are deterministic (a hash of source, label, track and time), so a replay
gives the same ids every run.

Cooldown: while an event of a label is open for a source, or within ``cooldown_s`` of the last one
being raised, a new one of that label from that source is merged (not raised): one fall, one alert,
even when the tracker split the person into two tracks.
"""
import copy
import hashlib
import logging

from .config import EventsConfig

log = logging.getLogger(__name__)

SEVERITY = {"fall": "high", "long_lie": "critical", "bad_posture": "low", "person_down": "high"}


def _round_box(box):
    return None if box is None else [round(float(v), 1) for v in box]


def make_change(kind, before, after):
    return {"type": kind, "before": before, "after": after}


class EventManager(object):
    def __init__(self, source, config=None):
        self.cfg = config or EventsConfig()
        self.source = source
        self.open_events = {}  # id -> event object
        self._last_raised = {}  # label -> detected_time
        self._last_update = {}  # id -> time of the last 'update'

    def active(self, label=None):
        return [e for e in self.open_events.values() if label is None or e["label"] == label]

    def suppressed(self, label, t):
        """Would a new ``label`` event at ``t`` fall under the cooldown?"""
        if self.active(label):
            return True
        last = self._last_raised.get(label)
        return last is not None and t - last < self.cfg.cooldown_s

    def new(self, label, t, track_id, start_time, score, box, zones=(), attributes=None, severity=None):
        """Open an event; returns the 'new' change, or None when the cooldown merges it."""
        if self.suppressed(label, t):
            log.debug("%s: %s at %.3f merged into an open or recent one (cooldown)", self.source, label, t)
            return None
        digest = hashlib.sha1(("%s|%s|%s|%.6f" % (self.source, label, track_id, t)).encode()).hexdigest()[:6]
        ev = {
            "id": "%.3f-%s" % (t, digest),
            "label": label,
            "source": self.source,
            "track_id": track_id,
            "start_time": round(float(start_time), 3),
            "detected_time": round(float(t), 3),
            "end_time": None,
            "score": round(float(score), 3),
            "severity": severity or SEVERITY.get(label, "medium"),
            "box": _round_box(box),
            "has_snapshot": False,
            "snapshot": None,
            "zones": list(zones),
            "attributes": dict(attributes or {}),
            "end_reason": None,
        }
        self.open_events[ev["id"]] = ev
        self._last_raised[label] = t
        self._last_update[ev["id"]] = t
        return make_change("new", None, copy.deepcopy(ev))

    def update(self, event_id, t, force=False, **fields):
        """Change fields of an open event; an 'update' change when something changed (paced)."""
        ev = self.open_events.get(event_id)
        if ev is None:
            return None
        if "box" in fields:
            fields["box"] = _round_box(fields["box"])
        changed = {k: v for k, v in fields.items() if ev.get(k) != v}
        if not changed:
            return None
        if not force and t - self._last_update.get(event_id, -1e18) < self.cfg.update_interval_s:
            return None
        before = copy.deepcopy(ev)
        for k, v in changed.items():
            if k == "attributes":
                ev["attributes"] = dict(ev["attributes"], **v)
            else:
                ev[k] = v
        self._last_update[event_id] = t
        return make_change("update", before, copy.deepcopy(ev))

    def end(self, event_id, t, reason):
        """Close an event; returns the 'end' change (None if it is not open)."""
        ev = self.open_events.pop(event_id, None)
        if ev is None:
            return None
        self._last_update.pop(event_id, None)
        before = copy.deepcopy(ev)
        ev["end_time"] = round(float(t), 3)
        ev["end_reason"] = reason
        return make_change("end", before, ev)
