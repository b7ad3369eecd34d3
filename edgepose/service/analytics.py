"""Per-source analytics of the daemon: one ``Analyzer`` per source, reconfigured between frames."""
import logging
import threading

log = logging.getLogger("edgepose.service")


class SourceAnalytics:
    """The ``Analyzer`` of one source behind a lock, reconfigurable between frames.

    It outlives the source's runner: a reload that reopens the source (new URI or options) or loads
    a new model hands the same object to the new runner, so tracks and open events carry on. Only a
    source removed from the config ends its events (``finish``).
    """

    def __init__(self, config, source):
        from ..analytics import Analyzer

        self.source = source
        self.config = config
        self.inner = Analyzer(config, source)
        self._lock = threading.Lock()

    def update(self, t, people, frame_size=None):
        with self._lock:
            return self.inner.update(t, people, frame_size)

    def finish(self, reason="stopped"):
        with self._lock:
            return list(self.inner.finish(reason=reason) or ())

    def configure(self, config):
        """Apply ``config`` in place between two frames: thresholds, zones and event pacing change;
        tracks, their fall timers and the open events carry on (an open fall stays open, its
        long-lie alert still comes on time)."""
        if config == self.config:
            return
        with self._lock:
            self.inner.reconfigure(config)
            self.config = config
        log.info("%s: analytics settings updated in place; tracks and open events carry on", self.source)
