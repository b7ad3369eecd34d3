"""A fake ``tensorrt`` module for the runtime backend's logic tests (inject via ``sys.modules``).

It mimics the TensorRT 8.5+/10 runtime API names the backend uses: ``Runtime``, ``ILogger``,
``TensorIOMode``, ``DataType``, ``nptype``, ``ICudaEngine.num_io_tensors / get_tensor_name /
get_tensor_mode / get_tensor_shape / get_tensor_dtype / get_tensor_profile_shape /
create_execution_context`` and ``IExecutionContext.set_input_shape / get_tensor_shape /
set_tensor_address / execute_async_v3``.

An "engine file" is JSON: ``{"inputs": {name: {"shape": [...], "dtype": "float32", "profile":
[min, opt, max]}}, "outputs": {name: {"shape": [...], "dtype": "float16"}}}`` (-1 = dynamic batch).
Executing writes, for each output, ``(c + 1) * mean(input[b])`` into channel ``c`` (last axis),
reading the input from the fake GPU's device memory (``fake_cuda_python``, shared with ``fake_pycuda``),
so data really travels host -> device -> "kernel" -> device -> host.

Refuses what TensorRT refuses: deserializing or executing without a current CUDA context on the calling
thread; an execution context entered by two threads at once (``IExecutionContext`` is not reentrant:
the fake raises where the real one would silently mix the two calls' data); and ``nptype`` of TensorRT
8.5.2, which uses ``np.bool`` and raises AttributeError under numpy >= 1.24 (set ``__version__``).
"""
import enum
import json

import numpy as np

import threading
import time

from . import fake_cuda_python as fake_cuda

__version__ = "10.3.0"
CALLS = []            # (method, args) in call order, for call-order assertions
RUNTIMES = []


class TensorIOMode(enum.Enum):
    NONE = 0
    INPUT = 1
    OUTPUT = 2


class DataType(enum.Enum):
    FLOAT = "float32"
    HALF = "float16"
    INT8 = "int8"
    INT32 = "int32"


def nptype(dtype):
    if __version__.startswith("8.5.") and int(np.__version__.split(".")[0]) * 100 + int(np.__version__.split(".")[1]) >= 124:
        raise AttributeError("module 'numpy' has no attribute 'bool'")      # TensorRT 8.5.2's nptype
    return np.dtype(dtype.value).type


def _context_current():
    return bool(fake_cuda.STATE.stack())


def _device_array(address, shape, dtype):
    n = int(np.prod(shape)) * np.dtype(dtype).itemsize
    return np.frombuffer(bytes(fake_cuda.STATE.device_mem[int(address)][:n]), dtype).reshape(shape)


def _device_write(address, array):
    b = np.ascontiguousarray(array).tobytes()
    fake_cuda.STATE.device_mem[int(address)][:len(b)] = b


EXECUTE_SECONDS = [0.0]      # tests set a "kernel time" to give concurrent callers a chance to overlap


class ILogger:
    class Severity(enum.Enum):
        INTERNAL_ERROR = 0
        ERROR = 1
        WARNING = 2
        INFO = 3
        VERBOSE = 4

    def __init__(self):
        pass

    def log(self, severity, msg):  # pragma: no cover - overridden
        pass


class Logger(ILogger):
    def __init__(self, min_severity=None):
        ILogger.__init__(self)


class Runtime:
    def __init__(self, logger):
        if not isinstance(logger, ILogger):
            raise TypeError("Runtime needs an ILogger")
        self.logger = logger
        RUNTIMES.append(self)

    def deserialize_cuda_engine(self, blob):
        CALLS.append(("deserialize_cuda_engine", len(blob)))
        if not _context_current():
            raise RuntimeError("no current CUDA context")
        try:
            spec = json.loads(bytes(blob).decode("utf-8"))
        except ValueError:
            self.logger.log(ILogger.Severity.ERROR, "fake: engine deserialization failed")
            return None
        return ICudaEngine(spec)


class ICudaEngine:
    def __init__(self, spec):
        self.spec = spec
        self._names = list(spec["inputs"]) + list(spec["outputs"])

    @property
    def num_io_tensors(self):
        return len(self._names)

    def get_tensor_name(self, i):
        return self._names[i]

    def get_tensor_mode(self, name):
        return TensorIOMode.INPUT if name in self.spec["inputs"] else TensorIOMode.OUTPUT

    def _t(self, name):
        return self.spec["inputs"].get(name) or self.spec["outputs"][name]

    def get_tensor_shape(self, name):
        return tuple(self._t(name)["shape"])

    def get_tensor_dtype(self, name):
        return DataType(self._t(name).get("dtype", "float32"))

    def get_tensor_profile_shape(self, name, profile_index):
        CALLS.append(("get_tensor_profile_shape", name, profile_index))
        p = self.spec["inputs"][name]["profile"]
        return [tuple(s) for s in p]

    def create_execution_context(self):
        return IExecutionContext(self)


class IExecutionContext:
    def __init__(self, engine):
        self.engine = engine
        self.input_shapes = {}
        self.addresses = {}
        self.busy = threading.Lock()

    def set_input_shape(self, name, shape):
        CALLS.append(("set_input_shape", name, tuple(shape)))
        spec = self.engine.spec["inputs"][name]
        if "profile" in spec:
            mn, _, mx = spec["profile"]
            if not all(a <= s <= b for a, s, b in zip(mn, shape, mx)):
                return False
        self.input_shapes[name] = tuple(int(s) for s in shape)
        return True

    def _batch(self):
        for name, spec in self.engine.spec["inputs"].items():
            if name in self.input_shapes:
                return self.input_shapes[name][0]
            if spec["shape"][0] >= 0:
                return spec["shape"][0]
        return -1

    def get_tensor_shape(self, name):
        if name in self.engine.spec["inputs"]:
            return self.input_shapes.get(name, tuple(self.engine.spec["inputs"][name]["shape"]))
        shape = list(self.engine.spec["outputs"][name]["shape"])
        if shape[0] < 0:
            shape[0] = self._batch()
        return tuple(shape)

    def set_tensor_address(self, name, ptr):
        CALLS.append(("set_tensor_address", name, int(ptr)))
        self.addresses[name] = int(ptr)
        return True

    def execute_async_v3(self, stream_handle):
        CALLS.append(("execute_async_v3", stream_handle))
        if not _context_current():
            raise RuntimeError("execute without a current CUDA context")
        if not self.busy.acquire(blocking=False):
            raise RuntimeError("IExecutionContext used by two threads at once (not reentrant)")
        try:
            time.sleep(EXECUTE_SECONDS[0])
            return self._execute()
        finally:
            self.busy.release()

    def _execute(self):
        spec = self.engine.spec
        name = next(iter(spec["inputs"]))
        in_shape = self.get_tensor_shape(name)
        in_dtype = np.dtype(spec["inputs"][name].get("dtype", "float32"))
        x = _device_array(self.addresses[name], in_shape, in_dtype)
        means = x.reshape(in_shape[0], -1).astype(np.float64).mean(axis=1)
        for out, ospec in spec["outputs"].items():
            shape = self.get_tensor_shape(out)
            dtype = np.dtype(ospec.get("dtype", "float32"))
            y = np.empty(shape, dtype=np.float64)
            chans = np.arange(shape[-1]) + 1.0
            y[...] = means.reshape((-1,) + (1,) * (len(shape) - 1)) * chans
            _device_write(self.addresses[out], y.astype(dtype))
        return True
