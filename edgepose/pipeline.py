"""The loop: capture -> preprocess -> infer -> decode -> analytics -> sinks.

Each stage runs on its own thread, connected by small bounded queues, so a slow stage never blocks
capture: for live sources the capture queue keeps only the newest frame (older ones are counted as
dropped); for files every queue blocks instead, so no frame is lost and results keep their order.
The backend is activated on the inference thread (a CUDA context belongs to the thread that uses it).

``Pipeline`` is an iterator of ``FrameResult`` and also takes callbacks::

    with Pipeline("/dev/video0", model="m.onnx", profile="tf-pose") as pipe:
        for result in pipe:                  # FrameResult(frame, people, events, timings)
            print(result.frame.index, len(result.people))

Stopping: ``request_stop()`` (what SIGINT/SIGTERM do after ``install_signal_handlers()``) stops
capture and lets the frames in flight finish (drain); ``close()`` stops everything, closes the
source and the sinks. Statistics: ``pipe.stats`` (``edgepose.stats.PipelineStats``).
"""
import logging
import queue
import signal
import threading
import time
from dataclasses import dataclass, field
from typing import Any, Dict, List

from .errors import EdgeposeError, ProfileError
from .sinks.sinkset import SinkSet
from .stats import PipelineStats, default_threads, limit_blas_threads
from .types import Frame, Person, TrackInfo

log = logging.getLogger(__name__)

_END = object()


@dataclass
class FrameResult:
    """One processed frame: people in source-image pixels, analytics events, per-stage seconds, and
    (with analytics) the tracked people seen on this frame (``TrackInfo``: id, posture, open alerts)."""

    frame: Frame
    people: List[Person]
    events: List[Any] = field(default_factory=list)
    timings: Dict[str, float] = field(default_factory=dict)
    transform: Any = None
    tracks: List[TrackInfo] = field(default_factory=list)


def track_infos(analytics):
    """``TrackInfo`` of the tracks ``analytics`` matched on its last frame (an object without
    ``tracks``, e.g. a custom analytics, gives [])."""
    tracks = getattr(analytics, "tracks", None) or ()
    manager = getattr(analytics, "events", None)
    open_ids = getattr(manager, "open_events", None)
    out = []
    for tr in tracks:
        if not getattr(tr, "matched", True):
            continue
        labels = getattr(tr, "events", {}) or {}
        alerts = tuple(sorted(label for label, eid in labels.items() if open_ids is None or eid in open_ids))
        out.append(TrackInfo(tr.track_id, tr.box(), getattr(tr, "posture", "unknown"), alerts,
                             tr.keypoints.copy()))
    return out


class _Item:
    __slots__ = ("frame", "t0", "timings", "tensor", "transform", "outputs")

    def __init__(self, frame, t0, timings):
        self.frame, self.t0, self.timings = frame, t0, timings
        self.tensor = self.transform = self.outputs = None


class Pipeline:
    """The pose loop. See the module doc.

    source: a ``Source`` or a URI for ``open_source`` (``source_options`` go to it, plus realtime/loop).
    model / engine: an .onnx or TensorRT engine path (or pass an opened ``backend``); none of them:
    the bundled demo model (synthetic figures only: a warning says so for any other source).
    profile: profile name/path/object (guessed from an ONNX model when None). size: (H, W) network
    input instead of the profile's. analytics: an object with ``update(t, people, frame_size)``, a
    class made with ``cls(source=name)`` (``analytics=Analyzer``: default thresholds), or a factory
    ``f(source_name) -> object``. sinks: a ``SinkSet``, or sink objects
    (``handle(change, frame=None)``, ``close(timeout)``) to put in one. decoder: an object with ``decode(outputs) -> List[Person]`` (default
    ``edgepose.decode.PoseDecoder(profile)``). on_result: callback(FrameResult) called by the
    consumer for each result. max_frames: stop after this many frames. queue_size: depth of the
    queues between stages (files); live sources always keep only the newest frame at capture.
    stats_interval: seconds between stats log lines (0: never). blas_threads: cap numpy's BLAS
    threads when the loop starts (default 1: idle OpenBLAS workers spin and steal inference's cores;
    None leaves them alone).
    """

    def __init__(self, source, model=None, engine=None, profile=None, analytics=None, sinks=(), backend=None,
                 decoder=None, size=None, threads=None, on_result=None, max_frames=None, realtime=False,
                 loop=False, queue_size=2, stats_interval=10.0, source_options=None, blas_threads=1):
        from .profiles import load_profile, resolve_model
        from .sources import open_source

        if backend is None:
            from .backends import open_backend

            path, self.profile = resolve_model(model, engine, profile, size, inputs=[source])
            backend = open_backend(path, profile=self.profile, threads=default_threads(threads))
        elif profile is None:
            raise ProfileError("Pipeline: pass profile= together with backend=")
        else:
            self.profile = load_profile(profile)
            if size is not None:
                self.profile = self.profile.with_size(size)
        self.backend = backend
        if decoder is None:
            from .decode import PoseDecoder

            decoder = PoseDecoder(self.profile)
        self.decoder = decoder
        opts = dict(source_options or {})
        if realtime:
            opts["realtime"] = True
        if loop:
            opts["loop"] = True
        self.source = open_source(source, **opts)
        if isinstance(analytics, type):             # a class such as Analyzer: its defaults, this source
            analytics = analytics(source=self.source.name)
        elif analytics is not None and not hasattr(analytics, "update"):
            analytics = analytics(self.source.name)   # a factory: f(source name) -> analytics
        self.analytics = analytics
        self.sinks = sinks if isinstance(sinks, SinkSet) else SinkSet(sinks or ())
        self.on_result = [on_result] if callable(on_result) else list(on_result or ())
        self.max_frames = max_frames
        self.stats = PipelineStats()
        self.stats_interval = stats_interval
        self.blas_threads = blas_threads
        self.error = None
        live = getattr(self.source, "live", False)
        self._live = live
        self._q_cap = queue.Queue(maxsize=1 if live else queue_size)
        self._q_pre = queue.Queue(maxsize=queue_size)
        self._q_inf = queue.Queue(maxsize=queue_size)
        self._q_out = queue.Queue(maxsize=max(queue_size, 2))
        self._stop = threading.Event()    # stop capturing, drain what is in flight
        self._abort = threading.Event()   # stop everything now
        self._threads = []
        self._started = False
        self._closed = False
        self._consumed_end = False
        self._last_log = time.monotonic()

    # -- public API ------------------------------------------------------------------------------
    def start(self):
        if self._started:
            return self
        self._started = True
        if self.blas_threads:
            changed = limit_blas_threads(self.blas_threads)
            if changed:
                log.debug("BLAS threads capped at %d in %s", self.blas_threads, ", ".join(changed))
        self.stats = PipelineStats()
        specs = [("capture", self._capture_loop, ()),
                 ("preprocess", self._stage_loop, ("preprocess", self._preprocess, self._q_cap, self._q_pre)),
                 ("infer", self._infer_loop, ()),
                 ("post", self._stage_loop, ("post", self._post, self._q_inf, self._q_out))]
        for name, target, args in specs:
            t = threading.Thread(target=target, args=args, name="edgepose-" + name, daemon=True)
            t.start()
            self._threads.append(t)
        return self

    def __iter__(self):
        self.start()
        while True:
            item = self._get(self._q_out, abort_ok=False)
            if item is _END or item is None:
                self._consumed_end = True
                break
            for cb in self.on_result:
                cb(item)
            yield item
        self.stats.stop()
        if self.error is not None:
            err, self.error = self.error, None
            raise err

    def run(self):
        """Process the whole source (calling ``on_result`` for each result); returns the stats."""
        try:
            for _ in self:
                pass
        finally:
            self.close()
        return self.stats

    def request_stop(self):
        """Stop capturing; the frames in flight still come out, then iteration ends."""
        self._stop.set()

    def close(self, timeout=5.0):
        """Stop all stages, close the source and the sinks. Safe to call twice."""
        if self._closed:
            return
        self._closed = True
        self._stop.set()
        if not self._consumed_end and self._started:
            # let the stages drain into the (unread) output queue, then abort
            deadline = time.monotonic() + timeout
            while any(t.is_alive() for t in self._threads) and time.monotonic() < deadline:
                try:
                    self._q_out.get(timeout=0.05)
                except queue.Empty:
                    pass
        self._abort.set()
        try:
            self.source.close()
        except Exception as e:
            log.warning("closing source %s: %s", self.source, e)
        for t in self._threads:
            t.join(timeout=timeout)
        if not self._started:
            self.backend.deactivate()
        self.sinks.close(timeout)
        self.stats.stop()
        log.info("stopped: %s", self.stats.log_line())

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    def install_signal_handlers(self):
        """SIGTERM and SIGINT -> ``request_stop()`` (a second SIGINT aborts). Main thread only."""
        count = [0]

        def handler(signum, _frame):
            count[0] += 1
            log.info("signal %d: stopping (draining frames in flight)", signum)
            self.request_stop()
            if count[0] > 1:
                self._abort.set()
                self._put_end(self._q_out)

        previous = {s: signal.signal(s, handler) for s in (signal.SIGTERM, signal.SIGINT)}
        return previous

    # -- queues ----------------------------------------------------------------------------------
    def _get(self, q, abort_ok=True):
        while True:
            try:
                return q.get(timeout=0.1)
            except queue.Empty:
                if self._abort.is_set():
                    if not abort_ok:
                        try:
                            return q.get_nowait()
                        except queue.Empty:
                            pass
                    return None

    def _put(self, q, item):
        while not self._abort.is_set():
            try:
                q.put(item, timeout=0.1)
                return True
            except queue.Full:
                continue
        return False

    def _put_latest(self, q, item):
        """Newest frame wins: replace what the next stage has not taken yet."""
        while True:
            try:
                q.put_nowait(item)
                return
            except queue.Full:
                try:
                    q.get_nowait()
                    self.stats.dropped += 1
                except queue.Empty:
                    pass

    def _put_end(self, q):
        try:
            q.put_nowait(_END)
        except queue.Full:
            try:
                q.get_nowait()
            except queue.Empty:
                pass
            try:
                q.put_nowait(_END)
            except queue.Full:
                pass

    def _fail(self, stage, exc):
        if self.error is None:
            self.error = exc
        if not isinstance(exc, EdgeposeError):
            log.error("stage %s failed: %s: %s", stage, type(exc).__name__, exc, exc_info=exc)
        self._stop.set()
        self._abort.set()
        self._put_end(self._q_out)

    # -- stages ----------------------------------------------------------------------------------
    def _capture_loop(self):
        src = self.source
        n = 0
        try:
            while not self._stop.is_set() and not self._abort.is_set():
                if self.max_frames is not None and n >= self.max_frames:
                    break
                t_read = time.monotonic()
                frame = src.read(timeout=0.25)
                now = time.monotonic()
                if frame is None:
                    if self._live and not getattr(src, "finished", True):
                        continue  # reconnecting or no new frame yet
                    err = getattr(src, "error", None)
                    if err is not None:
                        raise err
                    break
                age = max(0.0, time.time() - frame.t) if self._live else now - t_read
                item = _Item(frame, now, {"capture": age})
                n += 1
                if self._live:
                    self._put_latest(self._q_cap, item)
                elif not self._put(self._q_cap, item):
                    break
        except BaseException as e:  # noqa: B902 - report any failure through the iterator
            self._fail("capture", e)
        finally:
            if self._live:
                self._put_latest_end()
            else:
                self._put(self._q_cap, _END) or self._put_end(self._q_cap)

    def _put_latest_end(self):
        while not self._abort.is_set():
            try:
                self._q_cap.put(_END, timeout=0.1)
                return
            except queue.Full:
                continue

    def _stage_loop(self, name, fn, q_in, q_out):
        try:
            while True:
                item = self._get(q_in)
                if item is None:
                    break
                if item is _END:
                    self._put(q_out, _END)
                    break
                self._put(q_out, fn(item))
        except BaseException as e:  # noqa: B902
            self._fail(name, e)

    def _preprocess(self, item):
        from .preprocess import preprocess

        t = time.monotonic()
        item.tensor, item.transform = preprocess(item.frame.image, self.profile, out=self._input_array())
        item.timings["preprocess"] = time.monotonic() - t
        return item

    def _input_array(self):
        """The backend's pinned input array to preprocess into (TensorRT: uploaded without a copy), or None."""
        lend = getattr(self.backend, "input_array", None)
        out = lend(1) if lend is not None else None
        h, w = self.profile.input.size
        want = (1, h, w, 3) if self.profile.input.layout == "NHWC" else (1, 3, h, w)
        return out if out is not None and tuple(out.shape) == want else None

    def _infer_loop(self):
        name = self.profile.input.name
        try:
            self.backend.activate()   # on this thread: it owns the CUDA context
            while True:
                item = self._get(self._q_pre)
                if item is None:
                    break
                if item is _END:
                    self._put(self._q_inf, _END)
                    break
                t = time.monotonic()
                item.outputs = self.backend.infer({name: item.tensor})
                item.tensor = None
                item.timings["infer"] = time.monotonic() - t
                self._put(self._q_inf, item)
        except BaseException as e:  # noqa: B902
            self._fail("infer", e)
        finally:
            try:
                self.backend.deactivate()
            except Exception as e:
                log.warning("backend deactivate: %s", e)

    def _post(self, item):
        t = time.monotonic()
        found = self.decoder.decode(item.outputs)
        item.outputs = None
        tf = item.transform
        people = [Person(tf.to_source(p.keypoints), p.score, p.track_id) for p in found]
        t1 = time.monotonic()
        item.timings["decode"] = t1 - t
        events, tracks = [], []
        if self.analytics is not None:
            frame = item.frame
            events = list(self.analytics.update(frame.t, people, (frame.height, frame.width)) or ())
            tracks = track_infos(self.analytics)
            t2 = time.monotonic()
            item.timings["analytics"] = t2 - t1
            if self.sinks and events:
                self.sinks.send(events, self.source.name, frame=frame.image)
                item.timings["sinks"] = time.monotonic() - t2
        done = time.monotonic()
        item.timings["total"] = done - item.t0
        self.stats.source_dropped = getattr(self.source, "dropped", 0)
        self.stats.add(item.timings, len(people), done)
        if self.stats_interval and done - self._last_log >= self.stats_interval:
            self._last_log = done
            log.info("%s", self.stats.log_line())
        return FrameResult(item.frame, people, events, item.timings, tf, tracks)
