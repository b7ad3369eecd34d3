"""Sinks: where event changes go (log, JSONL file, MQTT, webhook, snapshots).

``SinkSet.from_config(SinksConfig)`` builds the enabled sinks (``build_sinks``) and fans changes out
to them; each ``Sink.handle(change, frame=None)`` returns at once (I/O happens in worker threads with
bounded queues), ``Sink.close(timeout)`` flushes. The snapshot sink comes first: it writes the JPEG
and fills ``has_snapshot``/``snapshot`` in the change before the others serialise it, so a 'new'
alert never points at a file that is not there yet.
"""
from .base import Sink, ThreadedSink, change_json
from .config import SinksConfig
from .sinkset import SinkSet, build_sinks

__all__ = ["Sink", "SinkSet", "ThreadedSink", "SinksConfig", "build_sinks", "change_json"]
