"""The daemon's current sinks, replaced on reload."""
import logging
import threading

log = logging.getLogger("edgepose.service")


def build_sinks_from(config):
    """``edgepose.sinks.build_sinks(config)``, or no sinks when the package has none (logged)."""
    try:
        from ..sinks import build_sinks
    except ImportError as e:
        if config.model_dump(exclude_defaults=True):
            log.warning("sinks are configured but edgepose.sinks.build_sinks is not available (%s)", e)
        return []
    return list(build_sinks(config))


class SinkHub:
    """The current sinks. ``send`` never raises; ``replace`` builds the new sinks before closing the old."""

    def __init__(self, config):
        self.sinks = build_sinks_from(config)
        self._lock = threading.Lock()
        self.errors = 0

    def send(self, changes, source, frame=None):
        if not changes:
            return
        with self._lock:
            sinks = list(self.sinks)
        for change in changes:
            for sink in sinks:
                try:
                    sink.handle(change, frame=frame)
                except Exception as e:  # a sink never kills the loop
                    self.errors += 1
                    log.warning("sink %s (source %s): %s", type(sink).__name__, source, e)

    def replace(self, config):
        try:
            new = build_sinks_from(config)
        except Exception as e:
            log.error("reload: the new sinks cannot be built (%s); keeping the old ones", e)
            return False
        with self._lock:
            old, self.sinks = self.sinks, new
        log.info("reload: sinks replaced (%d -> %d)", len(old), len(new))
        threading.Thread(target=self._close_all, args=(old, 10.0), name="sinks-close", daemon=True).start()
        return True

    def close(self, timeout):
        with self._lock:
            sinks, self.sinks = self.sinks, []
        self._close_all(sinks, timeout)

    @staticmethod
    def _close_all(sinks, timeout):
        for sink in sinks:
            try:
                sink.close(max(0.1, timeout / max(1, len(sinks))))
            except Exception as e:
                log.warning("closing sink %s: %s", type(sink).__name__, e)

    def depths(self):
        """[(sink name, queued items)] from each sink's ``stats()["queued"]`` (where it queues)."""
        out = []
        with self._lock:
            sinks = list(self.sinks)
        for i, sink in enumerate(sinks):
            try:
                depth = (sink.stats() or {}).get("queued") if hasattr(sink, "stats") else None
            except Exception:
                depth = None
            if depth is not None:
                out.append((getattr(sink, "name", None) or "%s%d" % (type(sink).__name__.lower(), i), depth))
        return out
