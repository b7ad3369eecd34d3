"""One ``SinkSet``: the sinks events fan out to, used by the pipeline, the daemon and replay.

``send(changes, source, frame)`` hands every change to every sink in order and never raises (a
failing sink is logged and counted); ``replace(config)`` builds the new sinks before it closes the
old ones (a reload); ``close(timeout)`` flushes them; ``depths()`` reports what each sink queues.
"""
import logging
import threading

from .config import SinksConfig

log = logging.getLogger(__name__)


def build_sinks(config=None):
    """The enabled sinks of ``config`` (``SinksConfig``), snapshot sink first."""
    cfg = config or SinksConfig()
    sinks = []
    try:
        if cfg.snapshots.enabled:
            from .snapshot import SnapshotSink
            sinks.append(SnapshotSink(cfg.snapshots))
        if cfg.log.enabled:
            from .log import LogSink
            sinks.append(LogSink(cfg.log))
        if cfg.jsonl.enabled:
            from .jsonl import JsonlSink
            sinks.append(JsonlSink(cfg.jsonl))
        if cfg.mqtt.enabled:
            from .mqtt import MqttSink
            sinks.append(MqttSink(cfg.mqtt))
        if cfg.webhook.enabled:
            from .webhook import WebhookSink
            sinks.append(WebhookSink(cfg.webhook))
    except Exception:
        SinkSet(sinks).close(0.5)  # do not leak the threads of the ones already started
        raise
    return sinks


def _name(sink):
    return getattr(sink, "name", None) or type(sink).__name__


class SinkSet:
    """Sinks behind one lock: ``send`` never raises, ``replace`` swaps them, ``close`` flushes them.

    sinks: built sink objects (``handle(change, frame=None)``, ``close(timeout)``, optional ``stats()``).
    """

    def __init__(self, sinks=()):
        self.sinks = list(sinks)
        self.errors = 0
        self._lock = threading.Lock()

    @classmethod
    def from_config(cls, config):
        return cls(build_sinks(config))

    def __len__(self):
        return len(self.sinks)

    def send(self, changes, source=None, frame=None):
        """Every change to every sink, in order; returns the changes as the last sink saw them (with
        the snapshot path where the snapshot sink wrote one). Failures are logged and counted."""
        if not changes:
            return []
        with self._lock:
            sinks = list(self.sinks)
        failed = 0
        sent = []
        for change in changes:
            for sink in sinks:
                try:
                    change = sink.handle(change, frame=frame) or change
                except Exception as e:  # a sink never kills the loop
                    failed += 1
                    log.warning("sink %s%s: %s", _name(sink), " (source %s)" % source if source else "", e)
            sent.append(change)
        if failed:
            with self._lock:
                self.errors += failed
        return sent

    def replace(self, config):
        """Build the sinks of ``config``; only when that worked close the old ones (in the background)."""
        try:
            new = build_sinks(config)
        except Exception as e:
            log.error("reload: the new sinks cannot be built (%s); keeping the old ones", e)
            return False
        with self._lock:
            old, self.sinks = self.sinks, new
        log.info("reload: sinks replaced (%d -> %d)", len(old), len(new))
        threading.Thread(target=_close_all, args=(old, max(0.1, 10.0 / max(1, len(old)))), name="sinks-close",
                         daemon=True).start()
        return True

    def close(self, timeout=5.0):
        """Flush and close every sink, each within ``timeout`` seconds (``share`` it out for a deadline)."""
        with self._lock:
            sinks, self.sinks = self.sinks, []
        _close_all(sinks, timeout)

    def share(self, total):
        """Seconds each sink may take to close so that closing them all fits in ``total``."""
        return max(0.1, total / max(1, len(self.sinks)))

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


def _close_all(sinks, timeout):
    """Close every sink, each within ``timeout`` seconds."""
    for sink in sinks:
        try:
            sink.close(timeout)
        except Exception as e:
            log.warning("closing sink %s: %s", _name(sink), e)
