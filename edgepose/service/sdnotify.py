"""The systemd notify protocol, spoken directly on ``$NOTIFY_SOCKET`` (no dependency).

systemd passes a ``Type=notify`` service the path of an ``AF_UNIX`` datagram socket in
``NOTIFY_SOCKET``; the service sends newline-separated ``KEY=VALUE`` assignments to it:
``READY=1``, ``STATUS=...``, ``WATCHDOG=1``, ``RELOADING=1`` (with ``MONOTONIC_USEC=``),
``STOPPING=1``. A path starting with ``@`` is in the Linux abstract namespace (a leading NUL byte).
Outside systemd (no ``NOTIFY_SOCKET``) every call is a cheap no-op, so the daemon runs the same way
from a terminal. Sending never raises: a lost notification must not take the service down.
"""
import logging
import os
import socket
import threading
import time

log = logging.getLogger(__name__)


def _address(path):
    """The socket address for a ``NOTIFY_SOCKET`` value ('@name' -> abstract namespace)."""
    if path.startswith("@"):
        return "\0" + path[1:]
    return path


def watchdog_interval(env=None):
    """Seconds systemd allows between ``WATCHDOG=1`` pings, or None when no watchdog is set.

    Reads ``WATCHDOG_USEC``; honours ``WATCHDOG_PID`` (the watchdog is for another process when
    it names a different pid), as sd_watchdog_enabled() does.
    """
    env = os.environ if env is None else env
    usec = env.get("WATCHDOG_USEC")
    if not usec:
        return None
    pid = env.get("WATCHDOG_PID")
    if pid and pid.strip() != str(os.getpid()):
        return None
    try:
        value = int(usec)
    except ValueError:
        log.warning("WATCHDOG_USEC=%r is not an integer; the watchdog is ignored", usec)
        return None
    return value / 1e6 if value > 0 else None


class Notifier:
    """Sends notifications to ``NOTIFY_SOCKET`` (or does nothing when it is not set).

    ``socket_path`` defaults to the environment's ``NOTIFY_SOCKET``. Thread-safe.
    """

    def __init__(self, socket_path=None):
        if socket_path is None:
            socket_path = os.environ.get("NOTIFY_SOCKET") or None
        self.socket_path = socket_path
        self._sock = None
        self._lock = threading.Lock()
        self._warned = False
        if socket_path:
            if not (socket_path.startswith("/") or socket_path.startswith("@")):
                log.warning("NOTIFY_SOCKET=%r is neither a path nor an abstract '@' name; notifications are off",
                            socket_path)
                self.socket_path = None
            else:
                self._sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
                self._sock.setblocking(True)
                self._sock.settimeout(1.0)

    @property
    def enabled(self):
        return self._sock is not None

    def notify(self, *assignments, **fields):
        """Send ``KEY=VALUE`` lines: ``notify("READY=1")`` or ``notify(STATUS="3.2 fps")``.

        Returns True when the datagram was sent, False when disabled or sending failed.
        """
        if self._sock is None:
            return False
        lines = list(assignments)
        for key, value in fields.items():
            lines.append("%s=%s" % (key, str(value).replace("\n", " ")))
        data = "\n".join(lines).encode("utf-8")
        with self._lock:
            try:
                self._sock.sendto(data, _address(self.socket_path))
                return True
            except OSError as e:
                if not self._warned:  # once; systemd may simply be gone during shutdown
                    log.warning("cannot notify systemd at %s: %s", self.socket_path, e)
                    self._warned = True
                return False

    def ready(self, status=None):
        return self.notify("READY=1", **({"STATUS": status} if status else {}))

    def status(self, text):
        return self.notify(STATUS=text)

    def watchdog(self):
        return self.notify("WATCHDOG=1")

    def reloading(self):
        """``RELOADING=1`` with ``MONOTONIC_USEC`` (required by Type=notify-reload, harmless otherwise)."""
        usec = int(time.clock_gettime(time.CLOCK_MONOTONIC) * 1e6)
        return self.notify("RELOADING=1", MONOTONIC_USEC=usec)

    def stopping(self, status=None):
        return self.notify("STOPPING=1", **({"STATUS": status} if status else {}))

    def close(self):
        with self._lock:
            if self._sock is not None:
                self._sock.close()
                self._sock = None


class FrameWatchdog:
    """Pings ``WATCHDOG=1`` only while frames are actually flowing.

    The processing loop calls :meth:`beat` after each frame; a thread calls :meth:`check` every
    ``interval / 4`` and pings when the last frame is younger than ``interval / 2`` (``interval``
    = ``WATCHDOG_USEC``). A wedged loop or a stalled source stops the pings, so systemd restarts
    the service. While ``starting`` (model loading, before the first frame) it pings too: a hang
    there is bounded by ``TimeoutStartSec``. ``clock`` is injectable for tests.
    """

    def __init__(self, notifier, interval, clock=time.monotonic):
        self.notifier = notifier
        self.interval = float(interval)
        self.clock = clock
        self.starting = True
        self.paused = False
        self._last_frame = None
        self._stop = threading.Event()
        self._thread = None

    @property
    def max_age(self):
        return self.interval / 2.0

    def beat(self, t=None):
        """Record that a frame was processed (at ``t``, default now)."""
        self._last_frame = self.clock() if t is None else t
        self.starting = False

    def flowing(self, now=None):
        now = self.clock() if now is None else now
        return self._last_frame is not None and now - self._last_frame < self.max_age

    def check(self, now=None):
        """Ping if frames flow (or still starting / paused for a reload); return whether alive."""
        alive = self.starting or self.paused or self.flowing(now)
        if alive:
            self.notifier.watchdog()
        return alive

    def start(self):
        if self._thread is None:
            self._thread = threading.Thread(target=self._run, name="sd-watchdog", daemon=True)
            self._thread.start()
        return self

    def _run(self):
        period = max(self.interval / 4.0, 0.01)
        was_flowing = True
        while not self._stop.wait(period):
            alive = self.check()
            if was_flowing and not alive:
                log.warning("no frame processed for %.1f s: watchdog pings stopped (systemd restarts us after %.1f s)",
                            self.max_age, self.interval)
            elif alive and not was_flowing:
                log.info("frames flow again: watchdog pings resumed")
            was_flowing = alive

    def stop(self):
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=2)
            self._thread = None
