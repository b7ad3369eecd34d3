"""Live frames and recent events of the daemon: the hand-over between the loop and the HTTP threads.

``LiveState`` keeps the newest processed frame of every source (by reference; JPEG encoding and
drawing happen on request, not per frame, and once per frame however many clients want it), the recent event changes for ``/events``, and the health
rule of ``/healthz``.
"""
import collections
import json
import math
import threading
import time

from .. import deps


def _plain(o):
    """JSON-able copy: numpy values to Python, NaN/Inf to null (strict JSON for browsers)."""
    if isinstance(o, dict):
        return {str(k): _plain(v) for k, v in o.items()}
    if isinstance(o, (list, tuple, set)):
        return [_plain(v) for v in o]
    if hasattr(o, "tolist"):  # numpy scalars and arrays
        return _plain(o.tolist())
    if isinstance(o, float) and (math.isnan(o) or math.isinf(o)):
        return None
    if o is None or isinstance(o, (str, int, float, bool)):
        return o
    return str(o)


def to_json(obj):
    return json.dumps(_plain(obj), allow_nan=False)


class _SourceSlot:
    __slots__ = ("image", "people", "t", "received", "seq", "jpeg", "jpeg_seq", "frames", "encoding")

    def __init__(self):
        self.image = None
        self.people = ()
        self.t = None
        self.received = None
        self.seq = 0
        self.jpeg = None
        self.jpeg_seq = -1
        self.frames = 0
        self.encoding = None  # the seq being encoded now (the other clients wait for it)


class LiveState:
    """Latest frame per source, recent events, and the health rule; shared by loop and HTTP threads.

    ``stale_after``: seconds without a frame after which a source counts as stalled.
    ``annotate(image, people) -> image``: draws the overlay on a copy (called on request only).
    ``metrics``: callable returning a list of ``Metric`` for ``/metrics``.
    """

    def __init__(self, sources=(), stale_after=5.0, max_events=1000, annotate=None,
                 metrics=None, jpeg_quality=80, clock=time.time):
        self.stale_after = float(stale_after)
        self.annotate = annotate
        self.metrics = metrics or (lambda: [])
        self.jpeg_quality = int(jpeg_quality)
        self.clock = clock  # wall clock: event times for /events?since=
        self.started = time.monotonic()  # frame ages and uptime: immune to clock jumps (NTP at boot)
        self.status = "starting"
        self._slots = collections.OrderedDict((name, _SourceSlot()) for name in sources)
        self._events = collections.deque(maxlen=int(max_events))
        self._event_seq = 0
        self._cond = threading.Condition()
        self.closed = threading.Event()

    # -- loop side ------------------------------------------------------------------------------
    def set_sources(self, names):
        with self._cond:
            old = self._slots
            self._slots = collections.OrderedDict((n, old.get(n) or _SourceSlot()) for n in names)

    def publish(self, source, image, people=(), t=None):
        """The newest processed frame of ``source`` (the array is kept by reference, not copied)."""
        with self._cond:
            slot = self._slots.get(source)
            if slot is None:
                slot = self._slots[source] = _SourceSlot()
            slot.image = image
            slot.people = list(people)
            slot.t = t
            slot.received = time.monotonic()
            slot.seq += 1
            slot.frames += 1
            self._cond.notify_all()

    def add_events(self, changes):
        """Record ``EventChange`` values for ``/events`` (kept in their JSON form)."""
        if not changes:
            return
        now = self.clock()
        with self._cond:
            for ch in changes:
                self._event_seq += 1
                self._events.append({"seq": self._event_seq, "received": now, "change": ch.to_json()})

    def close(self):
        self.closed.set()
        with self._cond:
            self._cond.notify_all()

    # -- HTTP side ------------------------------------------------------------------------------
    def sources(self):
        with self._cond:
            return list(self._slots)

    def health(self):
        """(ok, JSON-able dict): ok when every source has a frame younger than ``stale_after``."""
        now = time.monotonic()
        per = {}
        ok = True
        with self._cond:
            items = list(self._slots.items())
        for name, slot in items:
            age = None if slot.received is None else now - slot.received
            flowing = age is not None and age < self.stale_after
            ok = ok and flowing
            per[name] = {"flowing": flowing, "frames": slot.frames,
                         "last_frame_age_s": None if age is None else round(age, 3)}
        ok = ok and bool(items) and self.status in ("running", "reloading")
        return ok, {"status": self.status if ok or self.status != "running" else "stalled",
                    "ok": ok, "uptime_s": round(now - self.started, 3), "sources": per}

    def events_since(self, since=None, limit=100):
        with self._cond:
            rows = [e for e in self._events if since is None or e["received"] > since]
        return rows[-limit:] if limit else rows

    def jpeg(self, source, after_seq=None, timeout=None):
        """(jpeg bytes, seq) of the newest frame; waits up to ``timeout`` for one newer than ``after_seq``."""
        deadline = None if timeout is None else time.monotonic() + timeout
        with self._cond:
            while True:
                slot = self._slots.get(source)
                if slot is None:
                    raise KeyError(source)
                fresh = slot.image is not None and (after_seq is None or slot.seq > after_seq)
                if fresh or self.closed.is_set() or deadline is None:
                    break
                left = deadline - time.monotonic()
                if left <= 0:
                    break
                self._cond.wait(left)
            if slot.image is None or (after_seq is not None and slot.seq <= after_seq):
                return None, slot.seq
            while slot.encoding is not None and slot.jpeg_seq != slot.seq and not self.closed.is_set():
                self._cond.wait(1.0)  # another client encodes this frame: one encoding for all
            if slot.jpeg_seq == slot.seq:
                return slot.jpeg, slot.seq
            image, people, seq = slot.image, slot.people, slot.seq
            slot.encoding = seq
        try:
            data = self._encode(image, people)
        finally:
            with self._cond:
                slot.encoding = None
                self._cond.notify_all()
        with self._cond:
            if slot.jpeg_seq < seq:
                slot.jpeg, slot.jpeg_seq = data, seq
        return data, seq

    def _encode(self, image, people):
        cv2 = deps.load("cv2", "the HTTP snapshot and preview")

        if self.annotate is not None:
            image = self.annotate(image.copy(), people)
        ok, buf = cv2.imencode(".jpg", image, [int(cv2.IMWRITE_JPEG_QUALITY), self.jpeg_quality])
        if not ok:
            raise RuntimeError("JPEG encoding failed")
        return buf.tobytes()
