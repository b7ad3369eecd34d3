"""Progress of long jobs (rendering, evaluation, calibration, quantization, builds).

``with progress(total, "rendering images", unit="image") as bar: ... bar.update()`` shows a tqdm bar
when stderr is an interactive terminal (and INFO messages are wanted: not with ``-q``), and
otherwise logs one plain line every ``every_s`` seconds and at the end, as before: under systemd,
in CI, in a pipe, a log file gets lines, never carriage-return animations. tqdm comes through
``deps`` (it is a dependency, but a machine without it still gets the log lines).
"""
import contextlib
import logging
import os
import sys
import time

from . import deps

log = logging.getLogger("edgepose.progress")


def interactive(stream=None):
    """True when a progress bar makes sense: stderr is a terminal, not under systemd, not TERM=dumb,
    not turned off with EDGEPOSE_PROGRESS=0, and INFO messages are enabled."""
    stream = stream or sys.stderr
    if os.environ.get("EDGEPOSE_PROGRESS", "").lower() in ("0", "no", "off", "never"):
        return False
    if os.environ.get("INVOCATION_ID") or os.environ.get("JOURNAL_STREAM"):   # a systemd unit
        return False
    if os.environ.get("TERM") == "dumb":
        return False
    try:
        tty = stream.isatty()
    except (AttributeError, ValueError):
        tty = False
    return tty and logging.getLogger("edgepose").isEnabledFor(logging.INFO)


class LogProgress(object):
    """The non-interactive progress: ``desc: 40/200 (20%), 12.5 image/s, 3 s`` log lines."""

    def __init__(self, total, desc, unit="it", logger=None, every_s=5.0):
        self.total, self.desc, self.unit = total, desc, unit
        self.log = logger or log
        self.every_s = every_s
        self.n = 0
        self.t0 = self.last = time.monotonic()
        self.postfix = ""

    def update(self, n=1):
        self.n += n
        now = time.monotonic()
        if now - self.last >= self.every_s and (self.total is None or self.n < self.total):
            self.last = now
            self._line(now)

    def set_postfix_str(self, text):
        self.postfix = text

    def _line(self, now):
        rate = self.n / max(now - self.t0, 1e-9)
        done = "%d/%d (%d%%)" % (self.n, self.total, 100 * self.n // max(1, self.total)) if self.total else "%d" % self.n
        self.log.info("%s: %s, %.1f %s/s, %.0f s%s", self.desc, done, rate, self.unit, now - self.t0,
                      ", " + self.postfix if self.postfix else "")

    def close(self):
        if self.n:
            self._line(time.monotonic())

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()


def progress(total, desc, unit="it", logger=None, every_s=5.0):
    """A progress reporter with ``update(n=1)``, ``set_postfix_str(text)`` and ``close()`` (also a
    context manager): a tqdm bar on an interactive terminal, else ``LogProgress``."""
    if interactive():
        tqdm = deps.optional("tqdm")
        if tqdm is not None:
            return tqdm.tqdm(total=total, desc=desc, unit=unit, file=sys.stderr, dynamic_ncols=True, leave=True)
    return LogProgress(total, desc, unit, logger, every_s)


class _LogWriter(object):
    """A text stream that turns each written line into a log record."""

    def __init__(self, logger, level):
        self.logger, self.level, self.buf = logger, level, ""

    def write(self, text):
        self.buf += text
        while "\n" in self.buf:
            line, self.buf = self.buf.split("\n", 1)
            if line.strip():
                self.logger.log(self.level, "%s", line.rstrip())
        return len(text)

    def flush(self):
        if self.buf.strip():
            self.logger.log(self.level, "%s", self.buf.rstrip())
        self.buf = ""


@contextlib.contextmanager
def prints_to_log(logger, level=logging.DEBUG):
    """Inside the block, what a library ``print``s to stdout (ONNX Runtime's quantizer reports its
    histogram settings that way) becomes log records of ``level``: stdout keeps edgepose's own result
    lines, ``-q`` silences the chatter and ``-vv`` shows it."""
    writer = _LogWriter(logger, level)
    with contextlib.redirect_stdout(writer):
        try:
            yield
        finally:
            writer.flush()
