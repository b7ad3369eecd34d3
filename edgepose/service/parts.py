"""The pieces the daemon swaps or shares: one backend for all cameras, reloadable decoder,
analytics and sinks, and the Prometheus metrics of a running service.

- ``SharedBackend``: looks like a ``Backend`` to every ``Pipeline``; one thread owns the real one
  (a CUDA context belongs to one thread) and runs the requests of all sources, batched into one
  inference when the engine's batch dimension is dynamic.
- ``SwappableDecoder`` / ``SourceAnalytics`` / ``SinkHub``: hold the current decoder, analyzer and
  sinks so a reload replaces them between two frames without touching the engine.
"""
import logging
import threading

import numpy as np

from ..backends.base import Backend
from .http_api import Metric

log = logging.getLogger(__name__)


class _Request:
    __slots__ = ("batch", "done", "result", "error")

    def __init__(self, batch):
        self.batch = batch
        self.done = threading.Event()
        self.result = None
        self.error = None


class SharedBackend(Backend):
    """One inference thread for every source; batches waiting requests when the batch is dynamic."""

    name = "shared"

    def __init__(self, backend, input_name, max_batch=8):
        super().__init__()
        self.inner = backend
        self.input_name = input_name
        self.inputs = backend.inputs
        self.outputs = backend.outputs
        self.requested_batch = int(max_batch)
        self.max_batch = 1  # known once the engine is active (TensorRT reads its profile then)
        self.calls = 0
        self.frames = 0
        self._cond = threading.Condition()
        self._pending = []
        self._closing = False
        self._thread = None
        self._ready = threading.Event()
        self._start_error = None

    @property
    def mean_batch(self):
        return self.frames / self.calls if self.calls else 0.0

    def activate(self):
        """Start the inference thread (idempotent); raises what activating the engine raised."""
        if self._thread is None:
            self._thread = threading.Thread(target=self._run, name="inference", daemon=True)
            self._thread.start()
            self._ready.wait()
            if self._start_error is not None:
                raise self._start_error
        self.active = True
        return self

    def deactivate(self):
        """Pipelines call this when they stop; the shared engine stays up until ``close()``."""

    def infer(self, batch):
        if self._thread is None:
            self.activate()
        req = _Request(batch)
        with self._cond:
            if self._closing:
                raise RuntimeError("the shared backend is closed")
            self._pending.append(req)
            self._cond.notify()
        req.done.wait()
        if req.error is not None:
            raise req.error
        return req.result

    def close(self):
        with self._cond:
            self._closing = True
            self._cond.notify_all()
        if self._thread is not None:
            self._thread.join(timeout=5)
            self._thread = None

    def _run(self):
        try:
            self.inner.activate()
        except BaseException as e:  # noqa: B902 - reported to activate()
            self._start_error = e
            self._ready.set()
            return
        self._configure_batch()
        self._ready.set()
        try:
            while True:
                with self._cond:
                    while not self._pending and not self._closing:
                        self._cond.wait()
                    if not self._pending:
                        break
                    reqs, self._pending = self._pending[:self.max_batch], self._pending[self.max_batch:]
                self._serve(reqs)
        finally:
            for req in self._pending:
                req.error = RuntimeError("the shared backend was closed")
                req.done.set()
            try:
                self.inner.deactivate()
            except Exception as e:
                log.warning("deactivating the backend: %s", e)

    def _configure_batch(self):
        """Batch up to ``requested_batch`` frames when the input's batch dimension is dynamic
        (ONNX: a named/None dim; TensorRT: ``batch_range`` of its optimization profile)."""
        inner = self.inner
        self.inputs, self.outputs = inner.inputs, inner.outputs
        info = next((t for t in inner.inputs if t.name == self.input_name), None)
        dim = info.shape[0] if info is not None and info.shape else 1
        limit = None
        if getattr(inner, "batch_range", None):
            lo, hi = inner.batch_range
            limit = hi if lo <= 1 else 1  # a fixed minimum batch > 1 would need padding: no batching
        elif isinstance(dim, int) and dim > 0:
            limit = 1
        self.max_batch = max(1, min(self.requested_batch, limit or self.requested_batch))

    def _serve(self, reqs):
        if len(reqs) > 1:
            try:
                sizes = [len(r.batch[self.input_name]) for r in reqs]
                joined = {self.input_name: np.concatenate([r.batch[self.input_name] for r in reqs])}
                out = self.inner.infer(joined)
                start = 0
                for r, n in zip(reqs, sizes):
                    r.result = {k: v[start:start + n] for k, v in out.items()}
                    start += n
                    r.done.set()
                self.calls += 1
                self.frames += sum(sizes)
                return
            except Exception as e:
                log.warning("batched inference failed (%s): running frames one by one from now on", e)
                self.max_batch = 1
        for r in reqs:
            try:
                r.result = self.inner.infer(r.batch)
                self.calls += 1
                self.frames += len(r.batch[self.input_name])
            except BaseException as e:  # noqa: B902 - handed to the pipeline that asked
                r.error = e
            r.done.set()


class SwappableDecoder:
    """``decode(outputs)`` with the current thresholds; ``update(overrides)`` swaps the decoder."""

    def __init__(self, profile, overrides=None):
        self.profile = profile
        self.overrides = {}
        self.inner = None
        self.update(overrides or {})

    def update(self, overrides):
        from ..decode import PoseDecoder

        self.inner = PoseDecoder(self.profile, **overrides)  # built first: a failure keeps the old one
        self.overrides = dict(overrides)

    def decode(self, outputs):
        return self.inner.decode(outputs)


class SourceAnalytics:
    """The ``Analyzer`` of one source behind a lock, reconfigurable between frames."""

    def __init__(self, config, source):
        from ..analytics import Analyzer

        self.source = source
        self.config = config
        self.inner = Analyzer(config, source)
        self._lock = threading.Lock()

    def update(self, t, people, frame_size=None):
        with self._lock:
            return self.inner.update(t, people, frame_size)

    def finish(self, reason="stopped"):
        with self._lock:
            return list(self.inner.finish(reason=reason) or ())

    def configure(self, config, send):
        """Apply ``config``. Zones alone are swapped in place (tracks and open events survive);
        other changes rebuild the analyzer after ending its open events (sent through ``send``)."""
        if config == self.config:
            return
        from ..analytics import Analyzer
        from ..analytics.zones import Zones

        with self._lock:
            only_zones = config.model_copy(update={"zones": self.config.zones}) == self.config
            if only_zones and hasattr(self.inner, "zones"):
                self.inner.zones = Zones(config.zones, self.source)
                self.inner.config = config
                log.info("%s: zones updated (%d zones)", self.source, len(config.zones))
            else:
                ends = list(self.inner.finish(reason="reconfigured") or ())
                self.inner = Analyzer(config, self.source)
                log.info("%s: analytics thresholds updated (%d open event(s) ended)", self.source, len(ends))
                if ends:
                    send(ends)
            self.config = config


def build_sinks_from(config):
    """``edgepose.sinks.build_sinks(config)``, or no sinks when the package has none (logged)."""
    try:
        from ..sinks import build_sinks
    except ImportError as e:
        if config.model_dump(exclude_defaults=True):
            log.warning("sinks are configured but edgepose.sinks.build_sinks is not available (%s)", e)
        return []
    return list(build_sinks(config))


class SinkHub:
    """The current sinks. ``send`` never raises; ``replace`` builds the new sinks before closing the old."""

    def __init__(self, config):
        self.sinks = build_sinks_from(config)
        self._lock = threading.Lock()
        self.errors = 0

    def send(self, changes, source, frame=None):
        if not changes:
            return
        with self._lock:
            sinks = list(self.sinks)
        for change in changes:
            for sink in sinks:
                try:
                    sink.handle(change, frame=frame)
                except Exception as e:  # a sink never kills the loop
                    self.errors += 1
                    log.warning("sink %s (source %s): %s", type(sink).__name__, source, e)

    def replace(self, config):
        try:
            new = build_sinks_from(config)
        except Exception as e:
            log.error("reload: the new sinks cannot be built (%s); keeping the old ones", e)
            return False
        with self._lock:
            old, self.sinks = self.sinks, new
        log.info("reload: sinks replaced (%d -> %d)", len(old), len(new))
        threading.Thread(target=self._close_all, args=(old, 10.0), name="sinks-close", daemon=True).start()
        return True

    def close(self, timeout):
        with self._lock:
            sinks, self.sinks = self.sinks, []
        self._close_all(sinks, timeout)

    @staticmethod
    def _close_all(sinks, timeout):
        for sink in sinks:
            try:
                sink.close(max(0.1, timeout / max(1, len(sinks))))
            except Exception as e:
                log.warning("closing sink %s: %s", type(sink).__name__, e)

    def depths(self):
        """[(sink name, queued items)] from each sink's ``stats()["queued"]`` (where it queues)."""
        out = []
        with self._lock:
            sinks = list(self.sinks)
        for i, sink in enumerate(sinks):
            try:
                depth = (sink.stats() or {}).get("queued") if hasattr(sink, "stats") else None
            except Exception:
                depth = None
            if depth is not None:
                out.append((getattr(sink, "name", None) or "%s%d" % (type(sink).__name__.lower(), i), depth))
        return out


def build_metrics(service):
    """The Prometheus families of a running ``Service``."""
    fam = {}

    def add(name, kind, help_, labels, value):
        if name not in fam:
            fam[name] = Metric(name, kind, help_, [])
        fam[name].samples.append((labels, value))

    add("edgepose_up", "gauge", "1 while the service runs", {}, 1)
    add("edgepose_ready", "gauge", "1 once the model is loaded and the first frame processed", {},
        1 if service.ready else 0)
    for name, r in list(service.runners.items()):
        lab = {"source": name}
        st = r.stats
        add("edgepose_frames_total", "counter", "frames processed", lab, r.frames)
        add("edgepose_fps", "gauge", "frames per second (rolling window)", lab, st.fps if st else 0.0)
        add("edgepose_people", "gauge", "people in the latest frame", lab, r.people)
        dropped = (st.dropped + st.source_dropped) if st else 0
        add("edgepose_dropped_frames_total", "counter", "frames skipped so the newest frame wins", lab, dropped)
        src = r.source
        add("edgepose_source_reconnects_total", "counter", "camera/stream reconnects and pipeline restarts",
            lab, getattr(src, "reconnects", 0) + r.restarts)
        add("edgepose_source_up", "gauge", "1 while the source's pipeline runs", lab, 1 if st is not None else 0)
        if st is not None:
            for stage in st.stages():
                med, p90 = st.latency(stage)
                for q, v in (("0.5", med), ("0.9", p90)):
                    add("edgepose_stage_latency_seconds", "gauge", "per-stage latency (total: end to end)",
                        {"source": name, "stage": stage, "quantile": q}, v)
        for (label, kind), n in sorted(r.events.items()):
            add("edgepose_events_total", "counter", "event changes by label and type",
                {"source": name, "label": label, "type": kind}, n)
    if "edgepose_events_total" not in fam:
        fam["edgepose_events_total"] = Metric("edgepose_events_total", "counter",
                                              "event changes by label and type", [])
    if service.sinks is not None:
        for sink, depth in service.sinks.depths():
            add("edgepose_sink_queue_depth", "gauge", "events waiting in a sink's queue", {"sink": sink}, depth)
        add("edgepose_sink_errors_total", "counter", "exceptions raised by sinks", {}, service.sinks.errors)
    be = service.backend
    if be is not None:
        add("edgepose_inference_calls_total", "counter", "inference calls of the shared engine", {}, be.calls)
        add("edgepose_inference_batch_mean", "gauge", "mean frames per inference call", {}, be.mean_batch)
    for result, n in sorted(service.reloads.items()):
        add("edgepose_reloads_total", "counter", "SIGHUP reloads by result", {"result": result}, n)
    from ..stats import rss_bytes

    add("edgepose_rss_bytes", "gauge", "resident memory of the process", {}, rss_bytes())
    return list(fam.values())
