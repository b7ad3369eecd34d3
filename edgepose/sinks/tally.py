"""``AlertTally``: a sink that only counts: alerts raised per label, and which are open right now.

For summaries (``edgepose run`` prints "alerts: fall x1") and for overlays (the alert banner names an
open fall even while its person is out of view). No I/O; safe to read from another thread.
"""
import collections
import threading

from .base import Sink


class AlertTally(Sink):
    name = "tally"

    def __init__(self):
        self.raised = collections.Counter()   # label -> number of 'new' changes
        self._open = {}                       # event id -> label
        self._lock = threading.Lock()

    def handle(self, change, frame=None):
        with self._lock:
            ev = change.after
            if change.type == "new":
                self.raised[ev.label] += 1
                self._open[ev.id] = ev.label
            elif change.type == "end":
                self._open.pop(ev.id, None)

    def open_labels(self):
        """Labels of the alerts open now (a set)."""
        with self._lock:
            return set(self._open.values())
