"""Sinks: where event changes go (log, JSONL file, MQTT, webhook, snapshots).

``build_sinks(SinksConfig) -> List[Sink]``; each ``Sink.handle(change, frame=None)`` returns at once
(I/O happens in worker threads with bounded queues), ``Sink.close(timeout)`` flushes. The snapshot
sink comes first: it writes the JPEG and fills ``has_snapshot``/``snapshot`` in the change before
the others serialise it, so a 'new' alert never points at a file that is not there yet.
"""
import logging

from .base import Sink, ThreadedSink, change_json
from .config import SinksConfig

_log = logging.getLogger(__name__)

__all__ = ["Sink", "ThreadedSink", "SinksConfig", "build_sinks", "dispatch", "change_json"]


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
        for s in sinks:  # do not leak the threads of the ones already started
            try:
                s.close(0.5)
            except Exception:
                pass
        raise
    return sinks


def dispatch(sinks, changes, frame=None):
    """Hand every change to every sink in order; a failing sink is logged, never raised."""
    errors = 0
    for change in changes:
        for sink in sinks:
            try:
                sink.handle(change, frame=frame)
            except Exception as e:
                errors += 1
                _log.warning("sink %s: %s", getattr(sink, "name", type(sink).__name__), e)
    return errors


def close_sinks(sinks, timeout=5.0):
    for sink in sinks:
        try:
            sink.close(timeout)
        except Exception as e:
            _log.warning("closing sink %s: %s", getattr(sink, "name", type(sink).__name__), e)
