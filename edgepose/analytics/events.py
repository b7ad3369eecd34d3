"""The event feed: typed ``Event`` objects and Frigate-style ``EventChange`` values (new/update/end).

An ``Event`` has a stable ``id`` and ``label, source, track_id, start_time, detected_time, end_time,
score, severity, box, has_snapshot, snapshot, zones, attributes, end_reason``. A change carries copies
(``before`` and ``after``), so nothing a consumer does to it touches the manager's state; the snapshot
sink returns the change with its snapshot path (``with_snapshot``) for the sinks after it. JSON
(``to_json``) is made only at the sink boundary. Ids are deterministic (a hash of source, label, track
and time), so a replay gives the same ids every run.

Cooldown: while an event of a label is open for a source, or within ``cooldown_s`` of the last one
being raised, a new one of that label from that source is merged (not raised): one fall, one alert,
even when the tracker split the person into two tracks.
"""
import dataclasses
import hashlib
import logging
from dataclasses import dataclass, field
from typing import Any, Dict, List, Optional

import numpy as np

from .config import EventsConfig

log = logging.getLogger(__name__)

SEVERITY = {"fall": "high", "long_lie": "critical", "bad_posture": "low", "person_down": "high"}
CHANGE_TYPES = ("new", "update", "end")


def _round_box(box):
    return None if box is None else [round(float(v), 1) for v in box]


@dataclass
class Event:
    """One alert over its life (times in seconds, ``box`` x0 y0 x1 y1 in source pixels)."""

    id: str
    label: str
    source: str
    track_id: Optional[int]
    start_time: float
    detected_time: float
    score: float
    severity: str
    box: Optional[List[float]] = None
    end_time: Optional[float] = None
    has_snapshot: bool = False
    snapshot: Optional[str] = None
    zones: List[str] = field(default_factory=list)
    attributes: Dict[str, Any] = field(default_factory=dict)
    end_reason: Optional[str] = None

    def copy(self, **changes):
        """An independent copy (its lists and dicts too), with ``changes`` applied."""
        out = dataclasses.replace(self, **changes)
        out.box = None if out.box is None else list(out.box)
        out.zones = list(out.zones)
        out.attributes = dict(out.attributes)
        return out

    def to_json(self):
        """The feed's public object (key order as documented)."""
        return {"id": self.id, "label": self.label, "source": self.source, "track_id": self.track_id,
                "start_time": self.start_time, "detected_time": self.detected_time, "end_time": self.end_time,
                "score": self.score, "severity": self.severity, "box": self.box, "has_snapshot": self.has_snapshot,
                "snapshot": self.snapshot, "zones": list(self.zones), "attributes": dict(self.attributes),
                "end_reason": self.end_reason}


@dataclass
class EventChange:
    """``type`` new/update/end, the event ``before`` (None for new) and ``after`` the change.

    keypoints: the person's smoothed keypoints (18, 3) at the change, for the snapshot's overlay; not
    part of the feed.
    """

    type: str
    before: Optional[Event]
    after: Event
    keypoints: Optional[np.ndarray] = None

    def __post_init__(self):
        if self.type not in CHANGE_TYPES:
            raise ValueError("EventChange.type: expected one of %s, got %r" % (", ".join(CHANGE_TYPES), self.type))

    def with_snapshot(self, path):
        """The same change with ``has_snapshot``/``snapshot`` set on ``before`` and ``after``."""
        before = None if self.before is None else self.before.copy(has_snapshot=True, snapshot=path)
        return dataclasses.replace(self, before=before, after=self.after.copy(has_snapshot=True, snapshot=path))

    def to_json(self):
        """``{"type", "before", "after"}``: the feed's public shape."""
        return {"type": self.type, "before": None if self.before is None else self.before.to_json(),
                "after": self.after.to_json()}


class EventManager(object):
    """The open events of one source. Times passed in are analytics time (monotonic: cooldowns and
    pacing use them); ``wall`` maps them to the wall-clock times the event fields carry."""

    def __init__(self, source, config=None, wall=None):
        self.cfg = config or EventsConfig()
        self.source = source
        self.wall = wall or (lambda t: t)
        self.open_events = {}  # id -> event object
        self._last_raised = {}  # label -> detected_time
        self._last_update = {}  # id -> time of the last 'update'

    def active(self, label=None):
        return [e for e in self.open_events.values() if label is None or e.label == label]

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
        wt = self.wall(t)
        digest = hashlib.sha1(("%s|%s|%s|%.6f" % (self.source, label, track_id, wt)).encode()).hexdigest()[:6]
        ev = Event(id="%.3f-%s" % (wt, digest), label=label, source=self.source, track_id=track_id,
                   start_time=round(float(self.wall(start_time)), 3), detected_time=round(float(wt), 3),
                   score=round(float(score), 3), severity=severity or SEVERITY.get(label, "medium"),
                   box=_round_box(box), zones=list(zones), attributes=dict(attributes or {}))
        self.open_events[ev.id] = ev
        self._last_raised[label] = t
        self._last_update[ev.id] = t
        return EventChange("new", None, ev.copy())

    def update(self, event_id, t, force=False, **fields):
        """Change fields of an open event; an 'update' change when something changed (paced)."""
        ev = self.open_events.get(event_id)
        if ev is None:
            return None
        if "box" in fields:
            fields["box"] = _round_box(fields["box"])
        changed = {k: v for k, v in fields.items() if getattr(ev, k) != v}
        if not changed:
            return None
        if not force and t - self._last_update.get(event_id, -1e18) < self.cfg.update_interval_s:
            return None
        before = ev.copy()
        for k, v in changed.items():
            if k == "attributes":
                ev.attributes = dict(ev.attributes, **v)
            else:
                setattr(ev, k, v)
        self._last_update[event_id] = t
        return EventChange("update", before, ev.copy())

    def end(self, event_id, t, reason):
        """Close an event; returns the 'end' change (None if it is not open)."""
        ev = self.open_events.pop(event_id, None)
        if ev is None:
            return None
        self._last_update.pop(event_id, None)
        before = ev.copy()
        ev.end_time = round(float(self.wall(t)), 3)
        ev.end_reason = reason
        return EventChange("end", before, ev)
