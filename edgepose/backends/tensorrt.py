"""TensorRT backend: a serialized engine run with pycuda buffers (the only runtime module that imports
``tensorrt`` and ``pycuda``, both lazily inside functions, so ``import edgepose`` works anywhere).

- The engine's sidecar (``<engine>.json``) is checked against the running TensorRT version and GPU
  before deserializing (``edgepose.engine.sidecar.check_sidecar``).
- Name-based I/O (TensorRT 8.5+): ``num_io_tensors``, ``get_tensor_name/mode/shape/dtype``,
  ``set_input_shape``, ``set_tensor_address``, ``execute_async_v3``.
- Buffers: pinned host memory (``pagelocked_empty``) and device memory (``mem_alloc``) sized for the
  largest batch of the engine's optimization profile; inputs are copied *into* the pinned buffer
  (never rebound), copies are asynchronous on one ``Stream``.
- The CUDA context is created by ``activate()`` on the calling thread (the loop's inference thread)
  and pushed/popped around each call; ``deactivate()`` frees everything. Nothing is freed in ``__del__``.
- Layout and dtype come from the engine: an input given in the other layout (NHWC vs NCHW) is
  transposed while copying, and values are cast to the engine's dtype (e.g. float16).
"""
import logging
import os

import numpy as np

from ..errors import BackendError, DependencyError, EngineError, InputError, ModelError
from .base import Backend, TensorInfo

log = logging.getLogger(__name__)



def import_tensorrt():
    try:
        import tensorrt as trt
    except ImportError as e:
        raise DependencyError("the tensorrt Python module is not available (%s): on a Jetson it comes with JetPack "
                              "(python3-libnvinfer); make the venv with --system-site-packages" % e)
    return trt


def import_pycuda():
    try:
        import pycuda.driver as cuda
    except (ImportError, OSError) as e:
        raise DependencyError("pycuda is not available (%s): on a Jetson `pip install pycuda` (it compiles against "
                              "/usr/local/cuda); it needs an NVIDIA driver (libcuda.so.1)" % e)
    return cuda


def trt_logger(trt):
    """The process's TensorRT logger, bridged into ``logging`` (shared with the build side)."""
    from ..engine.trt import get_logger

    return get_logger(trt)


def check_sidecar(engine_path, trt_version, device_name, compute_capability):
    """The engine's sidecar dict after checking it matches this TensorRT and GPU (``EngineError`` if not)."""
    from ..engine.sidecar import check_sidecar as check

    return check(engine_path, trt_version, device_name, compute_capability)


class _Buffer:
    """Pinned host + device memory of one tensor, sized for its largest shape."""

    __slots__ = ("name", "dtype", "max_shape", "host", "device", "shape")

    def __init__(self, cuda, name, dtype, max_shape):
        self.name, self.dtype, self.max_shape = name, np.dtype(dtype), tuple(int(d) for d in max_shape)
        size = int(np.prod(self.max_shape)) if self.max_shape else 1
        self.host = cuda.pagelocked_empty(size, self.dtype)       # flat pinned array, never rebound
        self.device = cuda.mem_alloc(max(1, size * self.dtype.itemsize))
        self.shape = self.max_shape

    def view(self, shape):
        """The first prod(shape) elements of the pinned buffer shaped as ``shape`` (a view, no copy)."""
        n = int(np.prod(shape)) if shape else 1
        return self.host[:n].reshape(shape)


class TensorRTBackend(Backend):
    """Run a TensorRT engine. ``profile``: the model profile (for its input name/layout); ``device``:
    CUDA device index; ``check``: verify the sidecar before deserializing (default True)."""

    name = "tensorrt"

    def __init__(self, engine_path, profile=None, device=0, check=True, threads=None):
        super().__init__()
        self.engine_path = os.fspath(engine_path)
        if not os.path.isfile(self.engine_path):
            raise ModelError("%s: engine file not found (build one with `edgepose build`)" % self.engine_path)
        self.profile = profile
        self.device_index = int(device)
        self.check = check
        self.sidecar = None
        self.inputs, self.outputs = [], []
        self.batch_range = (1, 1)
        self._ctx = self._engine = self._context = self._runtime = self._stream = None
        self._buffers = {}
        self._in_shapes = {}

    # -- lifecycle -------------------------------------------------------------------------------
    def _activate(self):
        trt = import_tensorrt()
        cuda = import_pycuda()
        self._cuda = cuda
        cuda.init()
        dev = cuda.Device(self.device_index)
        self._ctx = dev.make_context()   # current on this thread from here on
        try:
            major, minor = dev.compute_capability()
            device_name = dev.name()
            if self.check:
                self.sidecar = check_sidecar(self.engine_path, trt.__version__, device_name, "%d.%d" % (major, minor))
            with open(self.engine_path, "rb") as f:
                blob = f.read()
            self._runtime = trt.Runtime(trt_logger(trt))
            self._engine = self._runtime.deserialize_cuda_engine(blob)
            if self._engine is None:
                raise EngineError("%s: TensorRT %s could not deserialize this engine (see the TensorRT log above); "
                                  "rebuild it on this device with `edgepose build`" % (self.engine_path, trt.__version__))
            self._context = self._engine.create_execution_context()
            if self._context is None:
                raise EngineError("%s: could not create an execution context (out of GPU memory?)" % self.engine_path)
            self._setup_io(trt, cuda)
            self._stream = cuda.Stream()
            log.info("%s: TensorRT %s on %s (sm %d.%d), batch %d..%d", self.engine_path, trt.__version__,
                     device_name, major, minor, self.batch_range[0], self.batch_range[1])
        except BaseException:
            self._release()
            self._ctx.pop()
            self._ctx.detach()
            self._ctx = None
            raise
        self._ctx.pop()

    def _profile_shapes(self, name):
        """(min, opt, max) shapes of input ``name`` in optimization profile 0."""
        eng = self._engine
        if hasattr(eng, "get_tensor_profile_shape"):          # TRT 8.5+
            shapes = eng.get_tensor_profile_shape(name, 0)
        else:                                                 # older bindings API
            shapes = eng.get_profile_shape(0, name)
        return [tuple(int(d) for d in s) for s in shapes]

    def _setup_io(self, trt, cuda):
        eng, ctx = self._engine, self._context
        names = [eng.get_tensor_name(i) for i in range(eng.num_io_tensors)]
        inputs = [n for n in names if eng.get_tensor_mode(n) == trt.TensorIOMode.INPUT]
        outputs = [n for n in names if eng.get_tensor_mode(n) == trt.TensorIOMode.OUTPUT]
        if not inputs or not outputs:
            raise EngineError("%s: engine has inputs %s and outputs %s; expected at least one of each"
                              % (self.engine_path, inputs, outputs))
        dtypes = {n: np.dtype(trt.nptype(eng.get_tensor_dtype(n))) for n in names}
        lo, hi = 1, None
        self.inputs, self.outputs = [], []
        max_shapes = {}
        for n in inputs:
            shape = tuple(int(d) for d in eng.get_tensor_shape(n))
            if any(d < 0 for d in shape):
                mn, _, mx = self._profile_shapes(n)
                if any(a != b for a, b in zip(mn[1:], mx[1:])):
                    log.warning("%s: input %s has a dynamic spatial range %s..%s; using the largest", self.engine_path,
                                n, mn, mx)
                lo, hi = max(lo, mn[0]), (mx[0] if hi is None else min(hi, mx[0]))
                max_shapes[n] = mx
                ctx.set_input_shape(n, mx)
            else:
                lo, hi = max(lo, shape[0]), (shape[0] if hi is None else min(hi, shape[0]))
                max_shapes[n] = shape
            self.inputs.append(TensorInfo(n, tuple(d if d >= 0 else None for d in shape), dtypes[n]))
        self.batch_range = (lo, hi if hi is not None else lo)
        for n in outputs:
            shape = tuple(int(d) for d in ctx.get_tensor_shape(n))   # resolved for the max input shapes
            if any(d < 0 for d in shape):
                raise EngineError("%s: output %s has data-dependent shape %s, which edgepose cannot buffer"
                                  % (self.engine_path, n, shape))
            max_shapes[n] = shape
            eng_shape = tuple(int(d) for d in eng.get_tensor_shape(n))
            self.outputs.append(TensorInfo(n, tuple(d if d >= 0 else None for d in eng_shape), dtypes[n]))
        for n in inputs + outputs:
            buf = _Buffer(cuda, n, dtypes[n], max_shapes[n])
            self._buffers[n] = buf
            ctx.set_tensor_address(n, int(buf.device))
        self._in_shapes = {n: max_shapes[n] for n in inputs}
        self._input_names, self._output_names = inputs, outputs

    def _release(self):
        for buf in self._buffers.values():
            try:
                buf.device.free()
            except Exception:
                pass
        self._buffers = {}
        self._context = self._engine = self._runtime = self._stream = None

    def _deactivate(self):
        if self._ctx is None:
            return
        self._ctx.push()
        try:
            self._release()
        finally:
            self._ctx.pop()
            self._ctx.detach()
            self._ctx = None

    # -- inference -------------------------------------------------------------------------------
    def _fit_input(self, name, x):
        """``x`` as laid out by the engine (transposing NHWC<->NCHW when that is what fits)."""
        want = self._buffers[name].max_shape
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

    def _infer(self, batch):
        cuda, ctx = self._cuda, self._context
        n = None
        fitted = {}
        for name in self._input_names:
            if name not in batch:
                raise InputError("%s: input %r missing from the batch (got %s)" % (self.engine_path, name, sorted(batch)))
            x = self._fit_input(name, np.asarray(batch[name]))
            n = x.shape[0] if n is None else n
            if not self.batch_range[0] <= x.shape[0] <= self.batch_range[1] or x.shape[0] != n:
                raise InputError("%s: batch of %d for %s is outside the engine's profile %d..%d (rebuild with a larger "
                                 "--max-batch)" % (self.engine_path, x.shape[0], name, *self.batch_range))
            fitted[name] = x
        self._ctx.push()
        try:
            stream = self._stream
            for name, x in fitted.items():
                if tuple(x.shape) != self._in_shapes[name]:
                    if not ctx.set_input_shape(name, tuple(x.shape)):
                        raise InputError("%s: TensorRT refused input shape %s for %s"
                                         % (self.engine_path, list(x.shape), name))
                    self._in_shapes[name] = tuple(x.shape)
                buf = self._buffers[name]
                host = buf.view(x.shape)
                np.copyto(host, x, casting="unsafe")     # into the pinned buffer, never rebinding it
                cuda.memcpy_htod_async(buf.device, host, stream)
            if not ctx.execute_async_v3(stream.handle):
                raise BackendError("%s: TensorRT execution failed (see the TensorRT log above)" % self.engine_path)
            views = {}
            for name in self._output_names:
                buf = self._buffers[name]
                shape = tuple(int(d) for d in ctx.get_tensor_shape(name))
                views[name] = buf.view(shape)
                cuda.memcpy_dtoh_async(views[name], buf.device, stream)
            stream.synchronize()
            # copies: the pinned buffers are reused by the next call
            return {name: np.array(v, dtype=np.float32 if v.dtype == np.float16 else v.dtype)
                    for name, v in views.items()}
        finally:
            self._ctx.pop()
