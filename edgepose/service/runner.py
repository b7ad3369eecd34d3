"""One source of the daemon: its ``Pipeline`` iterated on a thread, restarted with backoff when it fails.

A dead camera or an unreadable file never takes the process down: the runner logs one line, waits
(doubling up to ``MAX_RESTART_DELAY``) and opens the source again; the other sources keep running.
"""
import logging
import threading

from ..errors import EdgeposeError
from .analytics import SourceAnalytics

log = logging.getLogger("edgepose.service")  # the name users see in journald lines

MAX_RESTART_DELAY = 60.0


class SourceRunner:
    """One source: its ``Pipeline`` iterated on a thread; restarted with backoff when it fails."""

    def __init__(self, service, source_cfg, analytics=None):
        self.service = service
        self.cfg = source_cfg
        self.name = source_cfg.name
        # a runner that replaces one (source reopened, new model) takes over its analytics
        self.analytics = analytics or SourceAnalytics(service.config.analytics_for(self.name), self.name)
        self.pipeline = None
        self.frames = 0
        self.people = 0
        self.restarts = 0
        self.finished = False      # the source ended normally (a file without loop)
        self.events = {}           # (label, type) -> count
        self._stop = threading.Event()
        self._thread = None
        self._lock = threading.Lock()

    def open(self):
        """Open the source and build its pipeline (raises on failure).

        A camera or stream that does not open within its ``wait_first`` seconds (default 0: one
        attempt) starts in reconnect mode: the service reaches READY with it reported down.
        """
        from ..pipeline import Pipeline

        svc = self.service
        options = dict(self.cfg.options)
        options["name"] = self.name
        options["start_down"] = True
        pipe = Pipeline(self.cfg.uri, backend=svc.backend, profile=svc.profile, decoder=svc.decoder,
                        analytics=self.analytics, sinks=(), source_options=options,
                        stats_interval=svc.config.logging.stats_interval_s)
        with self._lock:
            self.pipeline = pipe
        return pipe

    def start(self, opened=False):
        self._thread = threading.Thread(target=self._run, args=(opened,), name="source-%s" % self.name, daemon=True)
        self._thread.start()
        return self

    def _run(self, opened):
        delay = self.service.config.service.restart_delay_s
        while not self._stop.is_set():
            try:
                if not opened:
                    self.open()
                opened = False
                for result in self.pipeline:
                    self.service.on_result(self, result)
                    delay = self.service.config.service.restart_delay_s
                if not self._stop.is_set():
                    log.info("%s: source ended", self.name)
                    self.finished = True
                break
            except Exception as e:  # a dead camera must not take the process down
                if self._stop.is_set():
                    break
                msg = str(e).splitlines()[0] if isinstance(e, EdgeposeError) else "%s: %s" % (type(e).__name__, e)
                log.error("%s: pipeline failed: %s; restarting in %.1f s", self.name, msg, delay)
                if not isinstance(e, EdgeposeError):
                    log.debug("traceback", exc_info=True)
            finally:
                self._close_pipeline(timeout=1.0)
            if self._stop.wait(delay):
                break
            self.restarts += 1
            delay = min(delay * 2.0, MAX_RESTART_DELAY)
        self.service.wake.set()

    def _close_pipeline(self, timeout):
        with self._lock:
            pipe, self.pipeline = self.pipeline, None
        if pipe is not None:
            try:
                pipe.close(timeout=timeout)
            except Exception as e:
                log.warning("%s: closing the pipeline: %s", self.name, e)

    def request_stop(self):
        self._stop.set()
        with self._lock:
            if self.pipeline is not None:
                self.pipeline.request_stop()

    def join(self, timeout):
        th = self._thread
        if th is not None and th.ident is not None:  # started
            th.join(timeout)
            return not th.is_alive()
        return True

    def stop(self, timeout):
        self.request_stop()
        if not self.join(timeout):
            log.warning("%s: the pipeline did not drain within %.1f s; closing it", self.name, timeout)
        self._close_pipeline(timeout=1.0)

    @property
    def down(self):
        """True while the source delivers nothing: its pipeline failed (restart pending) or its camera
        is not there (reconnecting)."""
        pipe = self.pipeline
        if pipe is None:
            return self._thread is not None
        return getattr(pipe.source, "connected", True) is False

    @property
    def settled(self):
        """The first start is decided: a frame came, or the source is reported down."""
        return self.frames > 0 or self.down or self.finished

    @property
    def alive(self):
        return self._thread is not None and self._thread.is_alive()

    @property
    def stats(self):
        pipe = self.pipeline
        return pipe.stats if pipe is not None else None

    @property
    def source(self):
        pipe = self.pipeline
        return pipe.source if pipe is not None else None
