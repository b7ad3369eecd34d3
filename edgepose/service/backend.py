"""The model side of the daemon, shared by every source: one backend, one reloadable decoder.

- ``SharedBackend``: looks like a ``Backend`` to every ``Pipeline``; its threads run the requests of
  all sources, batched into one inference when the engine's batch dimension is dynamic. One thread
  per lane of the real backend (a TensorRT engine opened here has two execution contexts, each with
  its own stream): while one lane computes, the other copies, so two sources overlap.
- ``SwappableDecoder``: the current decoder; a reload swaps its thresholds between two frames.
- ``load_model(config)``: the config's ``model:`` section opened as ``(SharedBackend, Profile, SwappableDecoder)``.
"""
import logging
import threading
import time

import numpy as np

from ..backends.base import Backend

log = logging.getLogger("edgepose.service")


class _Request:
    __slots__ = ("batch", "done", "result", "error")

    def __init__(self, batch):
        self.batch = batch
        self.done = threading.Event()
        self.result = None
        self.error = None


class SharedBackend(Backend):
    """Inference threads (one per lane of ``backend``) for every source; batches waiting requests when
    the batch is dynamic."""

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
        self._workers = []
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

    def input_array(self, batch=1):
        """The real backend's pinned input array (TensorRT), or None: see ``TensorRTBackend.input_array``."""
        lend = getattr(self.inner, "input_array", None)
        return lend(batch) if lend is not None and self._ready.is_set() and self._start_error is None else None

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
        lanes = max(1, int(getattr(self.inner, "lanes", 1) or 1))
        self._workers = [threading.Thread(target=self._serve_loop, name="inference-%d" % i, daemon=True)
                         for i in range(1, lanes)]
        for w in self._workers:
            w.start()
        self._ready.set()
        try:
            self._serve_loop()
            for w in self._workers:
                w.join()
        finally:
            for req in self._pending:
                req.error = RuntimeError("the shared backend was closed")
                req.done.set()
            try:
                self.inner.deactivate()
            except Exception as e:
                log.warning("deactivating the backend: %s", e)

    def _count(self, frames):
        with self._cond:            # several lanes count at once
            self.calls += 1
            self.frames += frames

    def _serve_loop(self):
        while True:
            with self._cond:
                while not self._pending and not self._closing:
                    self._cond.wait()
                if not self._pending:
                    break
                reqs, self._pending = self._pending[:self.max_batch], self._pending[self.max_batch:]
            self._serve(reqs)

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
                self._count(sum(sizes))
                return
            except Exception as e:
                log.warning("batched inference failed (%s): running frames one by one from now on", e)
                self.max_batch = 1
        for r in reqs:
            try:
                r.result = self.inner.infer(r.batch)
                self._count(len(r.batch[self.input_name]))
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


def load_model(cfg):
    """``(SharedBackend, Profile, SwappableDecoder)`` for ``cfg.model`` (activated; raises on failure)."""
    from ..backends import open_backend
    from ..profiles import resolve_model

    m = cfg.model
    path, profile = resolve_model(m.model, m.engine, m.profile, m.size, inputs=[s.uri for s in cfg.sources])
    log.info("loading %s (profile %s)", path, profile.name)
    t0 = time.monotonic()
    inner = open_backend(path, profile=profile, threads=m.threads, lanes=2)
    max_batch = cfg.service.max_batch if cfg.service.batch else 1
    backend = SharedBackend(inner, profile.input.name, max_batch=max_batch).activate()
    decoder = SwappableDecoder(profile, cfg.decode_overrides())
    log.info("model loaded in %.2f s: %s, batch %s", time.monotonic() - t0, inner.name,
             "up to %d" % backend.max_batch if backend.max_batch > 1 else "1")
    return backend, profile, decoder
