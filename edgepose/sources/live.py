"""Live sources (cameras, RTSP/HTTP streams): a reader thread that keeps only the newest frame.

A slow consumer never builds a backlog: every frame the reader captures replaces the previous one,
and frames that nobody read are counted in ``dropped``. When the device or stream is lost (a read
fails, or it cannot be reopened) the reader logs it and reconnects with exponential backoff
(``retry_delay`` doubling up to ``max_retry_delay``), one log line per attempt, forever unless
``max_retries`` is set; the consumer just waits for the next frame meanwhile.
"""
import logging
import threading
import time

from ..errors import SourceError
from ..types import Frame
from .base import Source, opencv_capture

log = logging.getLogger(__name__)


class LiveSource(Source):
    """A camera or stream opened through ``capture_factory(spec)`` and read on its own thread.

    ``spec``: the ``CaptureSpec`` to open. ``wait_first``: seconds to keep trying the first open at
    construction (0: one attempt, so a wrong device is reported at once); when it did not open by
    then, ``SourceError`` is raised, or with ``start_down=True`` the source starts in reconnect
    mode instead (``connected`` False, frames once the camera is there: a daemon at boot, where an
    IP camera often comes up a minute after the Jetson). ``wait_first=None``: reconnect mode at once.
    """

    live = True

    def __init__(self, spec, name, uri=None, capture_factory=None, retry_delay=0.5, max_retry_delay=30.0,
                 max_retries=None, read_timeout=None, wait_first=0.0, start_down=False):
        super().__init__(name, uri=uri)
        self.spec = spec
        self.factory = capture_factory or opencv_capture
        self.retry_delay = float(retry_delay)
        self.max_retry_delay = float(max_retry_delay)
        self.max_retries = max_retries
        self.captured = 0
        self.reconnects = 0
        self.error = None
        self._cond = threading.Condition()
        self._latest = None
        self._stop = threading.Event()
        self._cap = None
        self._index = 0
        if wait_first is not None:
            self._cap = self._open_within(float(wait_first))
            if self._cap is None and not start_down:
                raise SourceError("%s: cannot open it (check the device/URL, permissions and that no other "
                                  "program holds it)" % self.uri)
            if self._cap is None:
                log.warning("%s: not there at start (tried for %.0f s); starting anyway and reconnecting in the "
                            "background", self.uri, float(wait_first))
            else:
                fps = float(self._cap.get(5) or 0.0)  # CAP_PROP_FPS
                self.fps = fps if 0 < fps < 1000 else None
        self._thread = threading.Thread(target=self._run, name="edgepose-capture-%s" % name, daemon=True)
        self._thread.start()

    # -- reader thread ---------------------------------------------------------------------------
    def _open_once(self):
        try:
            cap = self.factory(self.spec)
        except Exception as e:  # a factory that raises counts as a failed attempt
            log.debug("%s: open failed: %s", self.uri, e)
            return None
        if cap is None or not cap.isOpened():
            if cap is not None:
                cap.release()
            return None
        return cap

    def _open_within(self, seconds):
        """Open, retrying with backoff for up to ``seconds`` (0: once); None when it never opened."""
        deadline = time.monotonic() + max(0.0, seconds)
        delay = self.retry_delay
        while True:
            cap = self._open_once()
            left = deadline - time.monotonic()
            if cap is not None or left <= 0 or self._stop.is_set():
                return cap
            self._stop.wait(min(delay, left))
            delay = min(delay * 2.0, self.max_retry_delay)

    @property
    def connected(self):
        """True while the camera/stream is open (False while reconnecting)."""
        return self._cap is not None

    def _reconnect(self):
        delay = self.retry_delay
        attempt = 0
        while not self._stop.is_set():
            attempt += 1
            if self.max_retries is not None and attempt > self.max_retries:
                self.error = SourceError("%s: lost and not back after %d reconnect attempts" % (self.uri, self.max_retries))
                log.error("%s", self.error)
                return None
            log.warning("%s: reconnecting (attempt %d, waiting %.1f s)", self.uri, attempt, delay)
            if self._stop.wait(delay):
                return None
            cap = self._open_once()
            if cap is not None:
                self.reconnects += 1
                log.info("%s: reconnected after %d attempt(s)", self.uri, attempt)
                return cap
            delay = min(delay * 2.0, self.max_retry_delay)
        return None

    def _run(self):
        cap = self._cap
        while not self._stop.is_set():
            if cap is None:
                cap = self._reconnect()
                self._cap = cap
                if cap is None:
                    break
            try:
                ok, image = cap.read()
            except Exception as e:
                log.debug("%s: read raised %s", self.uri, e)
                ok, image = False, None
            if self._stop.is_set():
                break
            if not ok or image is None:
                log.warning("%s: lost (read failed after %d frames)", self.uri, self.captured)
                try:
                    cap.release()
                except Exception:
                    pass
                cap = self._cap = None
                continue
            frame = Frame(image, time.time(), self._index, self.name)
            self._index += 1
            self.captured += 1
            with self._cond:
                if self._latest is not None:
                    self.dropped += 1
                self._latest = frame
                self._cond.notify_all()
        if cap is not None:
            cap.release()
        with self._cond:
            self._cond.notify_all()

    # -- consumer side ---------------------------------------------------------------------------
    @property
    def finished(self):
        """True once no frame will ever come again (closed, or reconnecting gave up)."""
        return self.closed or self.error is not None or not self._thread.is_alive()

    def read(self, timeout=None):
        """The newest frame not read yet; waits for one. ``None`` after close (or on timeout, or when
        reconnecting gave up: then ``error`` says why)."""
        deadline = None if timeout is None else time.monotonic() + timeout
        with self._cond:
            while self._latest is None:
                if self.closed or self.error is not None or not self._thread.is_alive():
                    return None
                wait = 0.25 if deadline is None else min(0.25, deadline - time.monotonic())
                if wait <= 0:
                    return None
                self._cond.wait(wait)
            frame, self._latest = self._latest, None
            return frame

    def close(self):
        super().close()
        self._stop.set()
        with self._cond:
            self._cond.notify_all()
        self._thread.join(timeout=5.0)
        if self._thread.is_alive():
            log.warning("%s: capture thread did not stop within 5 s (a blocking read); leaving it", self.uri)
