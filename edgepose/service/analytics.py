"""Per-source analytics of the daemon: one ``Analyzer`` per source, reconfigured between frames."""
import logging
import threading

log = logging.getLogger("edgepose.service")


class SourceAnalytics:
    """The ``Analyzer`` of one source behind a lock, reconfigurable between frames."""

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

    def configure(self, config, send):
        """Apply ``config``. Zones alone are swapped in place (tracks and open events survive);
        other changes rebuild the analyzer after ending its open events (sent through ``send``)."""
        if config == self.config:
            return
        from ..analytics import Analyzer
        from ..analytics.zones import Zones

        with self._lock:
            only_zones = config.model_copy(update={"zones": self.config.zones}) == self.config
            if only_zones and hasattr(self.inner, "zones"):
                self.inner.zones = Zones(config.zones, self.source)
                self.inner.config = config
                log.info("%s: zones updated (%d zones)", self.source, len(config.zones))
            else:
                ends = list(self.inner.finish(reason="reconfigured") or ())
                self.inner = Analyzer(config, self.source)
                log.info("%s: analytics thresholds updated (%d open event(s) ended)", self.source, len(ends))
                if ends:
                    send(ends)
            self.config = config
