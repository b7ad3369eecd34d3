"""One log line per event change."""
import logging

from .base import Sink

log = logging.getLogger("edgepose.events")

_LEVELS = {"debug": logging.DEBUG, "info": logging.INFO, "warning": logging.WARNING, "error": logging.ERROR}


def describe(change):
    """'fall new cam1 track 3 (score 0.82, high) id=... snapshot=...' style text."""
    a = change.after
    parts = ["%s %s %s track %s" % (a.label, change.type, a.source, a.track_id),
             "score %.2f %s" % (a.score or 0.0, a.severity),
             "start %.3f detected %.3f" % (a.start_time or 0.0, a.detected_time or 0.0)]
    if a.end_time is not None:
        parts.append("end %.3f (%s)" % (a.end_time, a.end_reason))
    if a.snapshot:
        parts.append("snapshot %s" % a.snapshot)
    parts.append("id %s" % a.id)
    return ", ".join(parts)


class LogSink(Sink):
    name = "log"

    def __init__(self, config):
        self.level = _LEVELS[config.level]
        self.sent = 0

    def handle(self, change, frame=None):
        level = self.level if change.type == "new" else min(self.level, logging.INFO)
        log.log(level, "%s", describe(change))  # logsetup never rate-limits this logger: alerts
        self.sent += 1

    def stats(self):
        return {"sent": self.sent}
