"""The daemon behind ``edgepose serve``: owns process life, nothing else.

One ``Service`` runs one ``Pipeline`` per source, all sharing ONE inference backend (a
``SharedBackend``: a single thread owns the engine and batches frames of several cameras when the
engine has a dynamic batch). Analytics and sinks sit behind small swappable holders so a reload
(SIGHUP) changes thresholds, zones and sinks without touching the engine.

systemd: ``READY=1`` once the model is loaded and every source delivered a frame or is reported
down (a camera not there at start is retried in the background, as IP cameras often boot a minute
after the Jetson); ``STATUS=`` with FPS
and people; ``WATCHDOG=1`` only while frames flow (``FrameWatchdog``); ``RELOADING=1`` / ``READY=1``
around a reload; ``STOPPING=1`` then drain, flush sinks and exit 0 on SIGTERM/SIGINT. A source that
fails (dead camera, unreadable files) is restarted with backoff; the others keep running.
"""
import logging
import signal
import threading
import time

from ..config import load_config
from ..draw import draw_people
from ..errors import EdgeposeError
from ..sinks import SinkSet
from . import logsetup
from .auth import resolve_token
from .backend import load_model
from .http_api import HttpApi
from .httpserver import HttpLimits
from .live import LiveState
from .metrics import build_metrics
from .runner import SourceRunner
from .sdnotify import FrameWatchdog, Notifier, watchdog_interval

log = logging.getLogger("edgepose.service")  # the name users see in journald lines


class Service:
    """``edgepose serve``. ``run()`` blocks until SIGTERM/SIGINT (or every source ended); returns 0.

    config_path: the YAML file re-read on SIGHUP (None: flags only). overrides: nested dict of
    command-line values applied over the file, at start and on every reload.
    """

    def __init__(self, config_path=None, overrides=None, notifier=None, install_signals=True):
        self.config_path = config_path
        self.overrides = overrides or {}
        self.config = load_config(config_path, self.overrides)
        self.notifier = notifier or Notifier()
        self.install_signals = install_signals
        self.wake = threading.Event()
        self._stop_requested = threading.Event()
        self._reload_requested = threading.Event()
        self.runners = {}
        self.backend = None
        self.profile = None
        self.decoder = None
        self.sinks = None
        self.http = None
        self.ready = False
        self.started = time.monotonic()
        self.reloads = {"ok": 0, "failed": 0}
        self.state = LiveState(stale_after=self.config.http.stale_after_s, max_events=self.config.http.max_events,
                               annotate=_annotate, metrics=lambda: build_metrics(self),
                               jpeg_quality=self.config.http.jpeg_quality)
        interval = watchdog_interval()
        self.watchdog = FrameWatchdog(self.notifier, interval) if interval and self.notifier.enabled else None

    # -- life ------------------------------------------------------------------------------------
    def run(self):
        self._setup_logging(self.config)
        if self.install_signals:
            self._install_signals()
        if self.watchdog is not None:
            self.watchdog.start()
            log.info("systemd watchdog: %.1f s (pinged only while frames flow)", self.watchdog.interval)
        try:
            self._start_http(self.config)
            self._load_model(self.config)
            self.sinks = SinkSet.from_config(self.config.sinks, sources=[s.name for s in self.config.sources])
            self._start_sources(self.config.sources, first=True)
            self._main_loop()
        finally:
            self._shutdown()
        return 0

    def request_stop(self):
        self._stop_requested.set()
        self.wake.set()

    def request_reload(self):
        self._reload_requested.set()
        self.wake.set()

    def _install_signals(self):
        def stop(signum, _frame):
            if self._stop_requested.is_set() and signum == signal.SIGINT:
                raise KeyboardInterrupt
            self.request_stop()

        signal.signal(signal.SIGTERM, stop)
        signal.signal(signal.SIGINT, stop)
        signal.signal(signal.SIGHUP, lambda s, f: self.request_reload())

    def _main_loop(self):
        last_status = 0.0
        while not self._stop_requested.is_set():
            self.wake.wait(0.5)
            self.wake.clear()
            if self._stop_requested.is_set():
                break
            if self._reload_requested.is_set():
                self._reload_requested.clear()
                self.reload()
            if not self.ready and self.runners and all(r.settled for r in self.runners.values()):
                self._become_ready()  # every source delivers, or is reported down (a camera late at boot)
            now = time.monotonic()
            if self.ready and now - last_status >= self.config.service.status_interval_s:
                last_status = now
                self.notifier.status(self.status_line())
            if self.runners and all(not r.alive for r in self.runners.values()):
                log.info("every source has ended: stopping")
                break

    def _become_ready(self):
        self.ready = True
        self.state.status = "running"
        line = self.status_line()
        self.notifier.ready(status=line)
        log.info("ready: %s", line)

    def _shutdown(self):
        cfg = self.config.service
        deadline = time.monotonic() + cfg.stop_timeout_s
        self.notifier.stopping(status="stopping: draining frames and flushing sinks")
        self.state.status = "stopping"
        log.info("stopping: draining frames in flight, flushing sinks (within %.0f s)", cfg.stop_timeout_s)
        runners = list(self.runners.values())
        for r in runners:
            r.request_stop()
        for r in runners:
            r.stop(max(0.2, (deadline - time.monotonic()) * 0.5))
        if self.sinks is not None:
            for r in runners:  # end open events so the sinks say the fall is over, not forgotten
                self.sinks.send(r.analytics.finish(reason="stopped"), r.name)
            self.sinks.close(self.sinks.share(max(0.5, deadline - time.monotonic())))
        if self.http is not None:
            self.http.stop()
        self.state.close()
        if self.backend is not None:
            self.backend.close()
        if self.watchdog is not None:
            self.watchdog.stop()
        log.info("stopped")

    # -- parts -----------------------------------------------------------------------------------
    def _setup_logging(self, cfg):
        lc = cfg.logging
        journal = {"auto": None, "journal": True, "plain": False}[lc.format]
        logsetup.setup(logsetup.parse_level(lc.level), journal=journal, burst=lc.repeat_burst,
                       period=lc.repeat_period_s)

    def _start_http(self, cfg):
        hc = cfg.http
        if not hc.enabled:
            return
        token = resolve_token(token_file=hc.token_file)
        limits = HttpLimits(hc.max_connections, hc.max_stream_clients, hc.request_timeout_s, hc.max_header_bytes)
        self.http = HttpApi(self.state, hc.host, hc.port, token=token, limits=limits).start()

    def _load_model(self, cfg):
        self.backend, self.profile, self.decoder = load_model(cfg)

    def _start_sources(self, sources, first=False, analytics=None):
        """Open every source at once (each may wait up to its ``wait_first``), then run them.

        A camera that is not there starts in reconnect mode (reported down). A source that cannot be
        opened at all (a missing file) is retried in the background, except when it is the only one
        at the first start: then that is the error the user must see. ``analytics``: per source name,
        the analytics carried over from before a reload (its tracks and open events).
        """
        runners = [SourceRunner(self, sc, (analytics or {}).get(sc.name)) for sc in sources]
        errors = {}

        def open_one(runner):
            try:
                runner.open()
            except EdgeposeError as e:
                errors[runner.name] = e
            except Exception as e:  # any failure: retried in the background like a dead camera
                errors[runner.name] = e

        threads = [threading.Thread(target=open_one, args=(r,), name="open-%s" % r.name, daemon=True)
                   for r in runners]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        for runner in runners:
            self.runners[runner.name] = runner
            e = errors.get(runner.name)
            if e is None:
                runner.start(opened=True)
                continue
            if first and len(sources) == 1 and isinstance(e, EdgeposeError):
                raise e
            log.error("%s: %s; retrying in the background", runner.name, str(e).splitlines()[0])
            runner.start(opened=False)
        self.state.set_sources(list(self.runners))
        if self.sinks is not None:
            self.sinks.announce([r.name for r in runners])

    def on_result(self, runner, result):
        """Called on each source's thread for every processed frame."""
        runner.frames += 1
        runner.people = len(result.people)
        if self.watchdog is not None:
            self.watchdog.beat()
        self.state.publish(runner.name, result.frame.image, result.people, result.frame.t)
        if result.events:
            for ch in result.events:
                key = (ch.after.label, ch.type)
                runner.events[key] = runner.events.get(key, 0) + 1
            # /events shows the changes as the sinks sent them (with the snapshot's path)
            self.state.add_events(self.sinks.send(result.events, runner.name, frame=result.frame.image))
        if not self.ready:
            self.wake.set()

    def status_line(self):
        parts, fps_total, people = [], 0.0, 0
        for r in self.runners.values():
            st = r.stats
            fps = st.fps if st is not None else 0.0
            fps_total += fps
            people += r.people
            parts.append("%s down" % r.name if r.down or st is None
                         else "%s %.1f fps %d people" % (r.name, fps, r.people))
        return "%.1f fps, %d people | %s" % (fps_total, people, "; ".join(parts))

    # -- reload ----------------------------------------------------------------------------------
    def reload(self):
        """Re-read the config; apply what changed; keep the old config when the new one is invalid."""
        self.notifier.reloading()
        if self.watchdog is not None:
            self.watchdog.paused = True
        self.state.status = "reloading"
        try:
            try:
                new = load_config(self.config_path, self.overrides)
            except EdgeposeError as e:
                self.reloads["failed"] += 1
                lines = str(e).splitlines()
                # one record (several lines): the rate limiter must never hide one of the bad keys
                log.error("reload refused, still running the previous config: %d problem(s):\n  %s",
                          len(lines), "\n  ".join(lines))
                return False
            try:
                self.apply(new)
            except Exception as e:  # a reload must never take the running service down
                self.reloads["failed"] += 1
                log.error("reload failed part-way (%s); running with what could be applied",
                          str(e).splitlines()[0] if str(e) else type(e).__name__)
                log.debug("traceback", exc_info=True)
                return False
            self.reloads["ok"] += 1
            return True
        finally:
            if self.watchdog is not None:
                self.watchdog.paused = False
            self.state.status = "running" if self.ready else "starting"
            self.notifier.ready(status=self.status_line())

    def apply(self, new):
        """Apply a validated config; the engine is reloaded only when ``model`` changed."""
        old = self.config
        changed = [k for k in type(new).model_fields if getattr(old, k) != getattr(new, k)]
        if not changed:
            log.info("reload: nothing changed")
            return
        log.info("reload: applying changes to %s", ", ".join(changed))
        self.config = new
        if "logging" in changed:
            self._setup_logging(new)
        if "model" in changed:
            self._swap_model(old, new)
        else:
            if "decode" in changed:
                self.decoder.update(new.decode_overrides())
                log.info("reload: decode thresholds now %s", new.decode_overrides() or "the profile's")
            self._apply_sources(old, new)
        if "sinks" in changed:
            self.sinks.replace(new.sinks, sources=[s.name for s in new.sources])
        if "http" in changed:
            self._swap_http(old, new)

    def _swap_model(self, old, new):
        """Load the new engine first; only when that worked stop the sources and move them over."""
        log.info("reload: the model changed: loading it, then restarting every source on it")
        previous = (self.backend, self.profile, self.decoder)
        try:
            self._load_model(new)
        except Exception:
            self.backend, self.profile, self.decoder = previous
            self.config = old
            raise
        fresh = (self.backend, self.profile, self.decoder)
        self.backend, self.profile, self.decoder = previous
        kept = self._end_removed(old, new)
        for r in list(self.runners.values()):
            r.stop(new.service.stop_timeout_s)
            kept[r.name] = r.analytics
        self.runners.clear()
        previous[0].close()
        self.backend, self.profile, self.decoder = fresh
        self._configure_analytics(new, kept)
        self._start_sources(new.sources, analytics=kept)

    def _swap_http(self, old, new):
        self.state.stale_after = new.http.stale_after_s
        self.state.jpeg_quality = new.http.jpeg_quality
        if self.http is not None:
            self.http.stop()
            self.http = None
        try:
            self._start_http(new)
        except Exception:
            log.error("reload: the new http settings cannot be used; restoring the previous ones")
            self._start_http(old)
            raise

    def _apply_sources(self, old, new):
        old_by, new_by = {s.name: s for s in old.sources}, {s.name: s for s in new.sources}
        kept = self._end_removed(old, new)
        restart = [n for n in new_by if n in old_by and
                   (old_by[n].uri, old_by[n].options) != (new_by[n].uri, new_by[n].options)]
        for name in restart:
            log.info("reload: source %s changed: reopening it (same engine, its tracks and events carry on)", name)
            runner = self.runners.pop(name)
            runner.stop(new.service.stop_timeout_s)
            kept[name] = runner.analytics
        for name, runner in self.runners.items():
            runner.cfg = new_by[name]
            kept[name] = runner.analytics
        self._configure_analytics(new, kept)
        self._start_sources([new_by[n] for n in new_by if n not in self.runners], analytics=kept)
        self.state.set_sources(list(self.runners))

    def _end_removed(self, old, new):
        """Stop the sources that are gone from the config and end their open events (the only way
        a reload ends events); returns {} for the caller to fill with the analytics it keeps."""
        names = {s.name for s in new.sources}
        for name in [s.name for s in old.sources if s.name not in names and s.name in self.runners]:
            log.info("reload: source %s removed", name)
            runner = self.runners.pop(name)
            runner.stop(new.service.stop_timeout_s)
            if self.sinks is not None:
                self.sinks.send(runner.analytics.finish(reason="source removed"), name)
        return {}

    def _configure_analytics(self, new, kept):
        """New thresholds and zones, applied in place to every source's analytics."""
        for name, analytics in kept.items():
            analytics.configure(new.analytics_for(name))



def _annotate(image, people):
    """The overlay of the HTTP snapshots and preview: skeletons drawn on ``image``."""
    return draw_people(image, people)
