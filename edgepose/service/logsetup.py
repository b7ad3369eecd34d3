"""Logging for the daemon: journald-friendly lines on stderr, repeated errors rate-limited.

Under systemd (``JOURNAL_STREAM`` or ``INVOCATION_ID`` set) each line is ``<N>name: message``:
journald stores its own timestamp and reads the ``<N>`` syslog priority prefix (3 error,
4 warning, 6 info, 7 debug), so ``journalctl -p warning`` works. In a terminal the lines are
``2026-01-01 12:00:00,123 WARNING name: message``.

``RateLimitFilter`` lets the first ``burst`` records with the same logger, level and message
template through per ``period`` seconds, drops the rest and then says how many it dropped: a dead
camera that fails to reconnect every second writes a handful of lines a minute, not thousands.
Alert lines (logger ``edgepose.events``, one per event change) are never limited: each is an alert.
``rate_limited()`` applies the same limit around a command that has no daemon logging (``replay``).
"""
import contextlib
import logging
import os
import sys
import threading
import time

SYSLOG_PRIORITY = {
    logging.CRITICAL: 2,
    logging.ERROR: 3,
    logging.WARNING: 4,
    logging.INFO: 6,
    logging.DEBUG: 7,
}

_HANDLER_MARK = "_edgepose_handler"
NEVER_LIMITED = ("edgepose.events",)  # the log sink: every line is an alert


def under_systemd(env=None):
    """True when stderr goes to the journal (systemd sets JOURNAL_STREAM / INVOCATION_ID)."""
    env = os.environ if env is None else env
    return bool(env.get("JOURNAL_STREAM") or env.get("INVOCATION_ID"))


def syslog_priority(levelno):
    for level in (logging.CRITICAL, logging.ERROR, logging.WARNING, logging.INFO):
        if levelno >= level:
            return SYSLOG_PRIORITY[level]
    return SYSLOG_PRIORITY[logging.DEBUG]


class JournalFormatter(logging.Formatter):
    """``<N>name: message``; every continuation line (tracebacks) gets the prefix too."""

    def __init__(self):
        super().__init__("%(name)s: %(message)s")

    def format(self, record):
        text = super().format(record)
        prefix = "<%d>" % syslog_priority(record.levelno)
        return "\n".join(prefix + line for line in text.splitlines() or [""])


class RateLimitFilter(logging.Filter):
    """Pass at most ``burst`` records per key (logger, level, template) and ``period`` seconds.

    Only records at ``min_level`` and above are limited. When a window with drops closes, the next
    record of that key carries ``(N similar messages suppressed)``. ``clock`` is injectable.
    """

    def __init__(self, burst=5, period=60.0, min_level=logging.WARNING, clock=time.monotonic, max_keys=1000):
        super().__init__()
        self.burst = int(burst)
        self.period = float(period)
        self.min_level = min_level
        self.clock = clock
        self.max_keys = max_keys
        self._state = {}  # key -> [window start, count in window, suppressed]
        self._lock = threading.Lock()

    def filter(self, record):
        if record.levelno < self.min_level or self.burst <= 0 or record.name in NEVER_LIMITED:
            return True
        template = record.__dict__.setdefault("_edgepose_template", str(record.msg))  # before any note added
        key = (record.name, record.levelno, template)
        now = self.clock()
        with self._lock:
            st = self._state.get(key)
            if st is None or now - st[0] >= self.period:
                suppressed = max(0, st[2] - 1) if st is not None else 0
                if len(self._state) >= self.max_keys:
                    self._state.clear()
                self._state[key] = [now, 1, 0]
                if suppressed:
                    record.msg = "%s (%d similar messages suppressed in the last %.0f s)" % (
                        record.msg, suppressed, self.period)
                return True
            st[1] += 1
            if st[1] <= self.burst:
                return True
            st[2] += 1
            if st[2] == 1:
                # say once, at the moment the limit starts, that more are coming
                record.msg = "%s (repeating; further messages like this suppressed for up to %.0f s)" % (
                    record.msg, self.period - (now - st[0]))
                return True
            return False


def setup(level=logging.INFO, journal=None, stream=None, burst=5, period=60.0):
    """Configure the root logger for the daemon (replacing handlers set earlier by the CLI).

    ``journal``: force the journald format (default: detect systemd). Returns the handler.
    """
    if journal is None:
        journal = under_systemd()
    handler = logging.StreamHandler(stream or sys.stderr)
    if journal:
        handler.setFormatter(JournalFormatter())
    else:
        handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    handler.addFilter(RateLimitFilter(burst=burst, period=period))
    setattr(handler, _HANDLER_MARK, True)
    root = logging.getLogger()
    for h in list(root.handlers):
        root.removeHandler(h)
    root.addHandler(handler)
    root.setLevel(level)
    return handler


@contextlib.contextmanager
def rate_limited(burst=5, period=60.0):
    """Limit repeated warnings on the root logger's handlers while the block runs (no-op where a
    handler has a limiter already)."""
    handlers = [h for h in logging.getLogger().handlers
                if not any(isinstance(f, RateLimitFilter) for f in h.filters)]
    limiters = [RateLimitFilter(burst=burst, period=period) for _ in handlers]  # one each: they count
    for h, f in zip(handlers, limiters):
        h.addFilter(f)
    try:
        yield
    finally:
        for h, f in zip(handlers, limiters):
            h.removeFilter(f)


def parse_level(name):
    """'info' / 'WARNING' / 'debug' -> logging level number."""
    value = logging.getLevelName(str(name).upper())
    if not isinstance(value, int):
        raise ValueError("unknown log level %r (use debug, info, warning or error)" % (name,))
    return value
