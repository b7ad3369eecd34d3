"""One ``SinkSet``: the sinks events fan out to, used by the pipeline, the daemon and replay.

``send(changes, source, frame)`` hands every change to every sink in order and never raises (a
failing sink is logged and counted); ``replace(config)`` builds the sinks whose config changed
before it closes the old ones, and keeps the others as they are (a reload must not reconnect MQTT
with the same client id for nothing); ``close(timeout)`` flushes them; ``stats()`` says what each
sink did (sent, failed, dropped, queued, connected) for ``/metrics``; ``announce(sources)`` lets a
sink publish the state of sources before their first event (MQTT: ``person_down`` OFF, discovery).
"""
import importlib
import logging
import threading

from .config import SinksConfig

log = logging.getLogger(__name__)

# (config key, module, class) in fan-out order: the snapshot sink first, so the others see its path
KINDS = (("snapshots", ".snapshot", "SnapshotSink"), ("log", ".log", "LogSink"), ("jsonl", ".jsonl", "JsonlSink"),
         ("mqtt", ".mqtt", "MqttSink"), ("webhook", ".webhook", "WebhookSink"))


def build_sinks(config=None, sources=(), reuse=None, previous=None):
    """The enabled sinks of ``config`` (``SinksConfig``), snapshot sink first.

    sources: the source names known now (MQTT announces them at start). reuse: {key: sink} kept as
    they are instead of being built. previous: {key: old sink} a new sink may take state from (MQTT:
    which sources have a person down).
    """
    cfg = config or SinksConfig()
    reuse, previous = reuse or {}, previous or {}
    sinks, built = [], []
    try:
        for key, module, cls_name in KINDS:
            sub = getattr(cfg, key)
            if not sub.enabled:
                continue
            if key in reuse:
                sinks.append(reuse[key])
                continue
            cls = getattr(importlib.import_module(module, __package__), cls_name)
            if key == "mqtt":
                sub = sub.model_copy(update={"sources": list(dict.fromkeys(list(sub.sources) + list(sources)))})
                sink = cls(sub, previous=previous.get(key))
            else:
                sink = cls(sub)
            sink.config_key = key
            sinks.append(sink)
            built.append(sink)
    except Exception:
        SinkSet(built).close(0.5)  # do not leak the threads of the ones already started
        raise
    return sinks


def _name(sink):
    return getattr(sink, "name", None) or type(sink).__name__


class SinkSet:
    """Sinks behind one lock: ``send`` never raises, ``replace`` swaps them, ``close`` flushes them.

    sinks: built sink objects (``handle(change, frame=None)``, ``close(timeout)``, optional ``stats()``).
    """

    def __init__(self, sinks=(), config=None):
        self.sinks = list(sinks)
        self.config = config
        self.errors = 0
        self._lock = threading.Lock()

    @classmethod
    def from_config(cls, config, sources=()):
        return cls(build_sinks(config, sources=sources), config=config)

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

    def replace(self, config, sources=()):
        """Build the sinks of ``config`` whose section changed, keep the others; only when that worked
        close the old ones that are gone (in the background)."""
        with self._lock:
            old = list(self.sinks)
        by_key = {getattr(s, "config_key", None): s for s in old}
        by_key.pop(None, None)
        reuse = {}
        if self.config is not None:
            reuse = {k: s for k, s in by_key.items() if getattr(self.config, k) == getattr(config, k)}
        try:
            new = build_sinks(config, sources=sources, reuse=reuse, previous=by_key)
        except Exception as e:
            log.error("reload: the new sinks cannot be built (%s); keeping the old ones", e)
            return False
        kept = [s for s in new if any(s is o for o in old)]
        gone = [s for s in old if not any(s is n for n in new)]
        with self._lock:
            self.sinks, self.config = new, config
        log.info("reload: sinks: %d kept, %d new, %d closed", len(kept), len(new) - len(kept), len(gone))
        if gone:
            threading.Thread(target=_close_all, args=(gone, max(0.1, 10.0 / len(gone))), name="sinks-close",
                             daemon=True).start()
        return True

    def announce(self, sources):
        """Let every sink that can publish the state of ``sources`` now (before any event of theirs)."""
        with self._lock:
            sinks = list(self.sinks)
        for sink in sinks:
            if hasattr(sink, "announce"):
                for name in sources:
                    try:
                        sink.announce(name)
                    except Exception as e:
                        log.warning("sink %s: announcing %s: %s", _name(sink), name, e)

    def stats(self):
        """[(sink name, stats dict)]: what each sink reports (sent, failed, dropped, queued, connected)."""
        out = []
        with self._lock:
            sinks = list(self.sinks)
        for i, sink in enumerate(sinks):
            try:
                st = dict(sink.stats() or {}) if hasattr(sink, "stats") else {}
            except Exception:
                st = {}
            out.append((getattr(sink, "name", None) or "%s%d" % (type(sink).__name__.lower(), i), st))
        return out

    def close(self, timeout=5.0):
        """Flush and close every sink, each within ``timeout`` seconds (``share`` it out for a deadline)."""
        with self._lock:
            sinks, self.sinks = self.sinks, []
        _close_all(sinks, timeout)

    def share(self, total):
        """Seconds each sink may take to close so that closing them all fits in ``total``."""
        return max(0.1, total / max(1, len(self.sinks)))

    def depths(self):
        """[(sink name, queued items)] of the sinks that queue."""
        return [(name, st["queued"]) for name, st in self.stats() if st.get("queued") is not None]


def _close_all(sinks, timeout):
    """Close every sink, each within ``timeout`` seconds."""
    for sink in sinks:
        try:
            sink.close(timeout)
        except Exception as e:
            log.warning("closing sink %s: %s", _name(sink), e)
