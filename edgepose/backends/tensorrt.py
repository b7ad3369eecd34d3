"""TensorRT backend: a serialized engine run with pinned host + device buffers through pycuda or
cuda-python (``backends.cudalib``: pycuda first, ``$EDGEPOSE_CUDA`` to choose). The only runtime module
that imports tensorrt, lazily inside functions, so ``import edgepose`` works anywhere.

- The engine's sidecar (``<engine>.json``) is checked against the running TensorRT version and GPU
  before deserializing (``edgepose.engine.sidecar.check_sidecar``).
- Name-based I/O (TensorRT 8.5+): ``num_io_tensors``, ``get_tensor_name/mode/shape/dtype``,
  ``set_input_shape``, ``set_tensor_address``, ``execute_async_v3``.
- TensorRT data types map to numpy here (``DTYPES``), never through ``trt.nptype``: TensorRT 8.5.2's
  uses ``np.bool``, gone since numpy 1.24 (what pip gives Python 3.8 on JetPack 5.1).
- ``lanes`` execution contexts (default 1), each with its own device buffers, pinned input staging and
  stream: two callers on two threads (the daemon's ``SharedBackend``) run at once, one's copies
  overlapping the other's compute. A context is never entered by two threads (it is not reentrant).
- Inputs: ``input_array(batch)`` lends a pinned array to preprocess *into*; ``infer`` then uploads it
  as it is. Any other array is copied into the lane's pinned staging first (never rebinding it).
- Outputs: copied device -> host straight into pinned arrays lent by a ``HostPool`` (no per-frame
  allocation, no second copy); they are the caller's, and go back to the pool when dropped. Engines
  built by ``edgepose build`` keep float32 outputs; float16 ones are converted here (with a warning).
- The device's *primary* context is pushed/popped around every call, so ``activate``, ``infer`` and
  ``deactivate`` may each run on any thread (no context is created, none leaks).
- An engine with a fixed batch N > 1 takes fewer frames: the batch is padded (zeros) and the outputs cut.
"""
import logging
import os
import queue
import threading

import numpy as np

from ..errors import BackendError, EngineError, InputError, ModelError
from .base import Backend, TensorInfo, check_input_dtype

log = logging.getLogger(__name__)

# TensorRT DataType member name -> numpy dtype (bool/uint8/int8/int32/int64/half/float; others unsupported here)
DTYPES = {"FLOAT": np.float32, "HALF": np.float16, "BF16": None, "INT8": np.int8, "INT32": np.int32,
          "INT64": np.int64, "BOOL": np.bool_, "UINT8": np.uint8, "FP8": None, "INT4": None}


def import_tensorrt():
    from ..engine.trt import import_trt

    return import_trt()


def numpy_dtype(trt_dtype, where=""):
    """numpy dtype of a ``trt.DataType`` (by member name), or EngineError."""
    name = getattr(trt_dtype, "name", str(trt_dtype)).split(".")[-1].upper()
    dt = DTYPES.get(name)
    if dt is None:
        raise EngineError("%s: TensorRT data type %s has no numpy buffer here (use float32/float16/int8 I/O)"
                          % (where, name))
    return np.dtype(dt)


def trt_logger(trt):
    """The process's TensorRT logger, bridged into ``logging`` (shared with the build side)."""
    from ..engine.trt import get_logger

    return get_logger(trt)


def check_sidecar(engine_path, trt_version, device_name, compute_capability):
    """The engine's sidecar dict after checking it matches this TensorRT and GPU (``EngineError`` if not)."""
    from ..engine.sidecar import check_sidecar as check

    return check(engine_path, trt_version, device_name, compute_capability)


class _Lane:
    """One execution context with its own device buffers, pinned input staging and stream."""

    __slots__ = ("context", "bufs", "in_shapes")

    def __init__(self, context, bufs):
        self.context, self.bufs, self.in_shapes = context, bufs, {}


class TensorRTBackend(Backend):
    """Run a TensorRT engine. ``profile``: the model profile (for its input name/layout); ``device``:
    CUDA device index; ``check``: verify the sidecar before deserializing (default True); ``cuda``:
    "pycuda" or "cuda-python" (default: ``load_cuda()``'s choice); ``lanes``: execution contexts that
    may run at once (each with its own buffers and stream); ``results``: pinned result sets callers may
    hold at a time before results fall back to ordinary memory."""

    name = "tensorrt"

    def __init__(self, engine_path, profile=None, device=0, check=True, threads=None, cuda=None, lanes=1,
                 results=8):
        super().__init__()
        self.engine_path = os.fspath(engine_path)
        if not os.path.isfile(self.engine_path):
            raise ModelError("%s: engine file not found (build one with `edgepose build`)" % self.engine_path)
        self.profile = profile
        self.device_index = int(device)
        self.check = check
        self.cuda_library = cuda          # None: load_cuda()'s choice
        self.lanes = max(1, int(lanes))
        self.results = max(1, int(results))
        self.sidecar = None
        self.inputs, self.outputs = [], []
        self.batch_range = (1, 1)
        self.gpu = self._engine = self._runtime = None
        self._lanes, self._free = [], None
        self._in_pool = self._out_pool = None
        self._max_shapes, self._dtypes = {}, {}
        self._input_names, self._output_names = [], []

    # -- lifecycle -------------------------------------------------------------------------------
    def _activate(self):
        from .cudalib import load_cuda
        from .gpubuffers import GpuDevice

        trt = import_tensorrt()
        self.gpu = gpu = GpuDevice.get(load_cuda(self.cuda_library), self.device_index)
        info = gpu.info
        with gpu.current():
            try:
                if self.check:
                    self.sidecar = check_sidecar(self.engine_path, trt.__version__, info.name, info.compute_capability)
                with open(self.engine_path, "rb") as f:
                    blob = f.read()
                self._runtime = trt.Runtime(trt_logger(trt))
                self._engine = self._runtime.deserialize_cuda_engine(blob)
                if self._engine is None:
                    raise EngineError("%s: TensorRT %s could not deserialize this engine (see the TensorRT log above); "
                                      "rebuild it on this device with `edgepose build`"
                                      % (self.engine_path, trt.__version__))
                self._setup_io(trt)
                self._setup_lanes()
            except BaseException:
                self._release()
                raise
        nbytes = sum(lane.bufs.nbytes for lane in self._lanes)
        log.info("%s: TensorRT %s on %s, batch %d..%d, %d lane(s), %.1f MB of device buffers, %.0f KB host->device "
                 "and %.0f KB device->host per frame", self.engine_path, trt.__version__, gpu.describe(),
                 self.batch_range[0], self.batch_range[1], self.lanes, nbytes / 1e6, self.h2d_bytes(1) / 1e3,
                 self.d2h_bytes(1) / 1e3)
        slow = [t.name for t in self.outputs if np.dtype(t.dtype) != np.float32]
        if slow:
            log.warning("%s: outputs %s are not float32: converting them on the CPU costs milliseconds per frame "
                        "(engines from `edgepose build` keep float32 outputs)", self.engine_path, slow)

    def _profile_shapes(self, name):
        """(min, opt, max) shapes of input ``name`` in optimization profile 0."""
        eng = self._engine
        if hasattr(eng, "get_tensor_profile_shape"):          # TRT 8.5+
            shapes = eng.get_tensor_profile_shape(name, 0)
        else:                                                 # older bindings API
            shapes = eng.get_profile_shape(0, name)
        return [tuple(int(d) for d in s) for s in shapes]

    def _new_context(self):
        ctx = self._engine.create_execution_context()
        if ctx is None:
            raise EngineError("%s: could not create an execution context (out of GPU memory?)" % self.engine_path)
        for n in self._input_names:
            if not ctx.set_input_shape(n, self._max_shapes[n]):
                raise EngineError("%s: TensorRT refused the input shape %s of %s" % (self.engine_path,
                                                                                   list(self._max_shapes[n]), n))
        return ctx

    def _setup_io(self, trt):
        """Names, dtypes, batch range and largest shapes of the engine's I/O (one probe context)."""
        eng = self._engine
        names = [eng.get_tensor_name(i) for i in range(eng.num_io_tensors)]
        inputs = [n for n in names if eng.get_tensor_mode(n) == trt.TensorIOMode.INPUT]
        outputs = [n for n in names if eng.get_tensor_mode(n) == trt.TensorIOMode.OUTPUT]
        if not inputs or not outputs:
            raise EngineError("%s: engine has inputs %s and outputs %s; expected at least one of each"
                              % (self.engine_path, inputs, outputs))
        self._input_names, self._output_names = inputs, outputs
        self._dtypes = dtypes = {n: numpy_dtype(eng.get_tensor_dtype(n), "%s: tensor %s" % (self.engine_path, n))
                                 for n in names}
        lo, hi = 1, None
        self.inputs, self.outputs = [], []
        for n in inputs:
            shape = tuple(int(d) for d in eng.get_tensor_shape(n))
            if any(d < 0 for d in shape):
                mn, _, mx = self._profile_shapes(n)
                if any(a != b for a, b in zip(mn[1:], mx[1:])):
                    log.warning("%s: input %s has a dynamic spatial range %s..%s; using the largest", self.engine_path,
                                n, mn, mx)
                lo, hi = max(lo, mn[0]), (mx[0] if hi is None else min(hi, mx[0]))
                self._max_shapes[n] = mx
            else:
                lo, hi = max(lo, shape[0]), (shape[0] if hi is None else min(hi, shape[0]))
                self._max_shapes[n] = shape
            self.inputs.append(TensorInfo(n, tuple(d if d >= 0 else None for d in shape), dtypes[n]))
        self.batch_range = (lo, hi if hi is not None else lo)
        probe = self._new_context()
        for n in outputs:
            shape = tuple(int(d) for d in probe.get_tensor_shape(n))   # resolved for the max input shapes
            if any(d < 0 for d in shape):
                raise EngineError("%s: output %s has data-dependent shape %s, which edgepose cannot buffer"
                                  % (self.engine_path, n, shape))
            self._max_shapes[n] = shape
            eng_shape = tuple(int(d) for d in eng.get_tensor_shape(n))
            self.outputs.append(TensorInfo(n, tuple(d if d >= 0 else None for d in eng_shape), dtypes[n]))
        self._lanes = [_Lane(probe, None)]

    def _setup_lanes(self):
        from .gpubuffers import BufferSet, HostPool

        names = self._input_names + self._output_names
        specs = {n: (self._dtypes[n], self._max_shapes[n]) for n in names}
        while len(self._lanes) < self.lanes:
            self._lanes.append(_Lane(self._new_context(), None))
        for lane in self._lanes:
            lane.bufs = BufferSet(self.gpu, specs, pinned=self._input_names)
            lane.in_shapes = {n: self._max_shapes[n] for n in self._input_names}
            for n in names:
                if not lane.context.set_tensor_address(n, lane.bufs[n].ptr):
                    raise EngineError("%s: TensorRT refused the address of %s" % (self.engine_path, n))
        self._free = queue.Queue()
        for lane in self._lanes:
            self._free.put(lane)
        self._out_pool = HostPool(self.gpu, {n: specs[n] for n in self._output_names},
                                  limit=self.results + self.lanes, what="output")
        self._in_pool = HostPool(self.gpu, {n: specs[n] for n in self._input_names},
                                 limit=self.results + self.lanes, what="input")

    @property
    def fixed_batch(self):
        """The engine's batch when it is fixed (min == max), else None."""
        lo, hi = self.batch_range
        return lo if lo == hi else None

    def _release(self):
        """Free buffers and TensorRT objects (the caller holds the context current)."""
        for pool in (self._in_pool, self._out_pool):
            if pool is not None:
                pool.close()
        self._in_pool = self._out_pool = None
        for lane in self._lanes:
            if lane.bufs is not None:
                try:
                    lane.bufs.free()
                except Exception as e:
                    log.warning("%s: freeing buffers: %s", self.engine_path, e)
                lane.bufs = None
            lane.context = None
        self._lanes, self._free = [], None
        self._engine = self._runtime = None

    def _deactivate(self):
        """Free everything once no call is running; safe from any thread (the primary context is pushed
        here, never destroyed). Results callers still hold stay valid until they drop them."""
        if self.gpu is None:
            return
        lanes = [self._free.get() for _ in self._lanes] if self._free is not None else []
        with self.gpu.current():
            self._release()
        del lanes

    # -- inference -------------------------------------------------------------------------------
    def _fit_input(self, name, x):
        """``x`` as laid out by the engine (transposing NHWC<->NCHW when that is what fits)."""
        want = self._max_shapes[name]
        check_input_dtype(self.engine_path, name, x, self._dtypes[name])
        if x.ndim != len(want):
            raise InputError("%s: input %s has %d dims, the engine expects %d (%s)"
                             % (self.engine_path, name, x.ndim, len(want), list(want)))
        if x.ndim == 4 and tuple(x.shape[1:]) != tuple(want[1:]):
            if tuple(x.shape[3:] + x.shape[1:3]) == tuple(want[1:]):
                return x.transpose(0, 3, 1, 2)           # NHWC given, NCHW engine
            if tuple(x.shape[2:] + x.shape[1:2]) == tuple(want[1:]):
                return x.transpose(0, 2, 3, 1)           # NCHW given, NHWC engine
        if tuple(x.shape[1:]) != tuple(want[1:]):
            raise InputError("%s: input %s of shape %s does not fit the engine's %s (batch %d..%d); check --size and "
                             "--profile" % (self.engine_path, name, list(x.shape), list(want), *self.batch_range))
        return x

    def input_array(self, batch=1, name=None):
        """A pinned array for ``batch`` frames of input ``name`` (default: the first input), laid out as
        the engine wants, to preprocess into (``preprocess(image, profile, out=a[i:i+1])``); pass it to
        ``infer`` and it is uploaded as it is, no copy. It returns to the backend when dropped. None while
        the backend is not active (preprocess into an ordinary array then)."""
        if not self.active or self._in_pool is None:
            return None
        name = name or self._input_names[0]
        n = int(batch)
        self._check_batch(name, n)
        return self._in_pool.lease()[name][:n]

    def _check_batch(self, name, n):
        lo, hi = self.batch_range
        if self.fixed_batch is not None and 1 <= n <= self.fixed_batch:
            return self.fixed_batch              # padded up to the engine's fixed batch
        if not lo <= n <= hi:
            raise InputError("%s: batch of %d for %s is outside the engine's profile %d..%d (rebuild with a larger "
                             "--max-batch)" % (self.engine_path, n, name, lo, hi))
        return n

    def _infer(self, batch):
        fitted, n = {}, None
        for name in self._input_names:
            if name not in batch:
                raise InputError("%s: input %r missing from the batch (got %s)" % (self.engine_path, name, sorted(batch)))
            x = self._fit_input(name, np.asarray(batch[name]))
            if n is not None and x.shape[0] != n:
                raise InputError("%s: inputs have different batch sizes" % self.engine_path)
            n = x.shape[0]
            self._check_batch(name, n)
            fitted[name] = x
        lane = self._free.get()
        try:
            outs = self._run(lane, fitted, n)
        finally:
            self._free.put(lane)
        return {k: v if v.dtype == np.float32 else v.astype(np.float32) for k, v in outs.items()}

    def _run(self, lane, fitted, n):
        ctx, bufs = lane.context, lane.bufs
        run_n = self._check_batch(self._input_names[0], n)
        with self.gpu.current():
            for name, x in fitted.items():
                shape = (run_n,) + self._max_shapes[name][1:]
                host = self._in_pool.full_array(x, name)          # lent by input_array(): upload as it is
                if host is not None:
                    host = host[:run_n]
                else:
                    host = bufs.host(name, shape)
                    np.copyto(host[:n], x, casting="unsafe")       # into the pinned staging, never rebinding it
                if run_n > n:
                    host[n:] = 0                                   # fixed-batch engine: pad
                if shape != lane.in_shapes[name]:
                    if not ctx.set_input_shape(name, shape):
                        raise InputError("%s: TensorRT refused input shape %s for %s"
                                         % (self.engine_path, list(shape), name))
                    lane.in_shapes[name] = shape
                bufs.upload(name, shape, source=host)
            if not ctx.execute_async_v3(bufs.stream_handle):
                raise BackendError("%s: TensorRT execution failed (see the TensorRT log above)" % self.engine_path)
            result = self._out_pool.lease()
            views = {}
            for name in self._output_names:
                shape = tuple(int(d) for d in ctx.get_tensor_shape(name))
                views[name] = bufs.download(name, shape, into=result[name][:shape[0]])[:n]
            bufs.sync()
        return views

    def h2d_bytes(self, batch=1):
        """Bytes copied host -> device per call of ``batch`` frames (a uint8-input engine: 4x fewer)."""
        return self._bytes(self._input_names, batch)

    def d2h_bytes(self, batch=1):
        """Bytes copied device -> host per call of ``batch`` frames (what ``make bench`` prints)."""
        return self._bytes(self._output_names, batch)

    def _bytes(self, names, batch):
        per = sum(int(np.prod(self._max_shapes[n][1:])) * self._dtypes[n].itemsize for n in names)
        return per * (self.fixed_batch or batch)
