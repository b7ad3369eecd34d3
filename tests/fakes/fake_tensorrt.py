"""FAKE tensorrt (test-only), the one fake of the library: the builder side (edgepose.engine) and the
runtime side (edgepose.backends.tensorrt), recording every call.

``make_fake_tensorrt("10.3.0")`` models 8.x/10.x (builder flags, IInt8EntropyCalibrator2,
EXPLICIT_BATCH on 8.x); ``"11.4.0"`` models 11.x (STRONGLY_TYPED only, no FP16/INT8 flags, no
calibrator). The parser reads the real ONNX file's I/O and one layer per node (Q/DQ nodes become
QUANTIZE/DEQUANTIZE layers). ``build_serialized_network`` drives an INT8 calibrator like TensorRT
(read the cache; without one, ``get_batch`` until ``None``, then write it) and returns a JSON engine
that the fake runtime runs: by default each output channel c holds ``(c + 1) * mean(input)``; with
``run_onnx=True`` the engine runs the ONNX itself on ONNX Runtime (real numbers for the self-test).
A hand-written engine file is the same JSON: ``{"inputs": {name: {"shape": [...], "dtype": "float32",
"profile": [min, opt, max]}}, "outputs": {name: {"shape": [...], "dtype": "float16"}}}`` (-1: dynamic).

uint8 network inputs (``uint8=True``, TensorRT 8.5.1+): the parser takes a uint8 input only when every node
reading it is a Cast to float32/float16 (TensorRT's ONNX parser refuses uint8 intermediates), and with
``uint8=False`` (TensorRT before 8.5.1) refuses it as "Unsupported ONNX data type: UINT8".

Refuses what TensorRT refuses: deserializing or executing without a current CUDA context on the calling
thread (the fake GPU of ``fake_cuda_python``, shared with ``fake_pycuda``); an execution context entered
by two threads at once (not reentrant: the real one would silently mix the two calls' data); ``nptype``
of TensorRT 8.5.2, which uses ``np.bool`` (AttributeError under numpy >= 1.24).
``trt.calls`` is the builder's ordered call log, ``trt.calls`` the runtime's.
"""
import enum
import json
import sys
import threading
import time
import types

import numpy as np

from . import fake_cuda_python as fake_cuda


def make_fake_tensorrt(version="10.3.0", dla_cores=2, fail_parse=False, dla_layers=None, refuse_timing_cache=False,
                       run_onnx=False, uint8=True):
    """``dla_layers``: how many of the network's layers ``can_run_on_DLA`` says yes to (default: all)."""
    import onnx      # the fake parser reads the file with it (kept here: tests may hide onnx from edgepose)

    trt = types.ModuleType("tensorrt")
    trt.__version__ = version
    major = int(version.split(".")[0])
    calls = trt.calls = []

    def rec(*a):
        calls.append(a if len(a) > 1 else a[0])

    class Severity(enum.IntEnum):
        INTERNAL_ERROR = 0
        ERROR = 1
        WARNING = 2
        INFO = 3
        VERBOSE = 4

    class ILogger:
        def __init__(self):
            pass

    ILogger.Severity = Severity
    trt.ILogger = ILogger

    ndcf = {"STRONGLY_TYPED": 1}
    if major < 11:
        ndcf["EXPLICIT_BATCH"] = 0
    trt.NetworkDefinitionCreationFlag = enum.IntEnum("NetworkDefinitionCreationFlag", ndcf)
    bflags = {"GPU_FALLBACK": 3, "TF32": 4}
    if major < 10:
        trt.TacticSource = enum.IntEnum("TacticSource", {"CUBLAS": 0, "CUBLAS_LT": 1, "CUDNN": 2,
                                                         "EDGE_MASK_CONVOLUTIONS": 3, "JIT_CONVOLUTIONS": 4})
    if major < 11:
        bflags.update(FP16=0, INT8=1)
    trt.BuilderFlag = enum.IntEnum("BuilderFlag", bflags)
    trt.MemoryPoolType = enum.IntEnum("MemoryPoolType", {"WORKSPACE": 0, "DLA_MANAGED_SRAM": 1})
    trt.DeviceType = enum.IntEnum("DeviceType", {"GPU": 0, "DLA": 1})
    dtypes = {"FLOAT": 0, "HALF": 1, "INT8": 2, "INT32": 3, "BOOL": 4}
    if uint8:
        dtypes["UINT8"] = 5
    trt.DataType = enum.IntEnum("DataType", dtypes)
    trt.LayerType = enum.IntEnum("LayerType", {"CONVOLUTION": 0, "ACTIVATION": 1, "SHUFFLE": 2, "DECONVOLUTION": 3,
                                               "QUANTIZE": 4, "DEQUANTIZE": 5, "CAST": 6, "CONSTANT": 7})
    layer_types = {"Conv": "CONVOLUTION", "Relu": "ACTIVATION", "Transpose": "SHUFFLE", "ConvTranspose": "DECONVOLUTION",
                   "QuantizeLinear": "QUANTIZE", "DequantizeLinear": "DEQUANTIZE", "Cast": "CAST"}

    class Tensor:
        def __init__(self, name, shape, dtype=None):
            self.name, self.shape, self.dtype = name, tuple(shape), dtype or trt.DataType.FLOAT

    class ILayer:
        def __init__(self, index, kind, out_dtype):
            self.name, self.type = "layer%d" % index, trt.LayerType[kind]
            self.num_outputs = 1
            self._out = Tensor("layer%d:0" % index, (), out_dtype)

        def get_output(self, i):
            return self._out

    class INetworkDefinition:
        def __init__(self, flags):
            self.flags = flags
            self.inputs, self.outputs, self.layers = [], [], [ILayer(i, "CONVOLUTION", trt.DataType.FLOAT)
                                                              for i in range(10)]
            self.source = None

        @property
        def num_inputs(self):
            return len(self.inputs)

        @property
        def num_outputs(self):
            return len(self.outputs)

        def get_input(self, i):
            return self.inputs[i]

        def get_output(self, i):
            return self.outputs[i]

        @property
        def num_layers(self):
            return len(self.layers)

        def get_layer(self, i):
            if not 0 <= i < len(self.layers):
                raise IndexError(i)
            return self.layers[i]

    class OnnxParser:
        def __init__(self, network, logger):
            rec("OnnxParser")
            self.network = network
            self.errors = []

        def parse_from_file(self, path):
            rec("parse_from_file", path)
            if fail_parse:
                self.errors = ["In node 3 (Conv): unsupported fake op", "second error"]
                return False
            m = onnx.load(path, load_external_data=False)
            init = {i.name for i in m.graph.initializer}

            def dims(vi):
                return [d.dim_value if d.HasField("dim_value") else -1 for d in vi.type.tensor_type.shape.dim]

            inputs = [i for i in m.graph.input if i.name not in init]
            for i in inputs:
                if i.type.tensor_type.elem_type == 2:       # TensorProto.UINT8
                    why = _uint8_refusal(m, i.name) if uint8 else "Unsupported ONNX data type: UINT8 (2)"
                    if why:
                        self.errors = [why]
                        return False
            self.network.inputs = [Tensor(i.name, dims(i), trt.DataType.UINT8 if i.type.tensor_type.elem_type == 2
                                          else trt.DataType.FLOAT) for i in inputs]
            self.network.outputs = [Tensor(o.name, dims(o)) for o in m.graph.output]
            half = {i.name for i in m.graph.initializer if i.data_type == 10}       # TensorProto.FLOAT16
            self.network.layers = [
                ILayer(k, layer_types.get(n.op_type, "CONVOLUTION"),
                       trt.DataType.HALF if half & set(n.input) else trt.DataType.FLOAT)
                for k, n in enumerate(m.graph.node)]
            self.network.source = path
            return True

        @property
        def num_errors(self):
            return len(self.errors)

        def get_error(self, i):
            return self.errors[i]

    class IOptimizationProfile:
        def __init__(self):
            self.shapes = {}

        def set_shape(self, name, min, opt, max):
            rec("set_shape", name, tuple(min), tuple(opt), tuple(max))
            self.shapes[name] = [list(min), list(opt), list(max)]

    class ITimingCache:
        def __init__(self, blob):
            self.blob = bytes(blob)

        def serialize(self):
            return self.blob + b"+fake-timing"

    class IBuilderConfig:
        def __init__(self):
            self.flags_set = []
            self.int8_calibrator = None
            self.default_device_type = trt.DeviceType.GPU
            self.DLA_core = -1
            self.timing = None
            self.tactic_sources = 0b11111 if major < 10 else 0b11000
            self.progress_monitor = None
            self.flags_set.append(trt.BuilderFlag.TF32)      # TensorRT's default: TF32 on
            self.profiles = []

        def clear_flag(self, flag):
            rec("clear_flag", flag)
            if flag in self.flags_set:
                self.flags_set.remove(flag)

        def get_tactic_sources(self):
            return self.tactic_sources

        def set_tactic_sources(self, sources):
            rec("set_tactic_sources", sources)
            self.tactic_sources = sources
            return True

        def can_run_on_DLA(self, layer):
            return int(layer.name[5:]) < (10 ** 6 if dla_layers is None else dla_layers)

        def set_memory_pool_limit(self, pool, size):
            rec("set_memory_pool_limit", pool, size)

        def set_flag(self, flag):
            rec("set_flag", flag)
            self.flags_set.append(flag)

        def add_optimization_profile(self, p):
            rec("add_optimization_profile")
            self.profiles.append(p)
            return 0

        def set_calibration_profile(self, p):
            rec("set_calibration_profile")

        def create_timing_cache(self, blob):
            rec("create_timing_cache", bytes(blob))
            return ITimingCache(blob)

        def set_timing_cache(self, cache, ignore_mismatch):
            rec("set_timing_cache", ignore_mismatch)
            if refuse_timing_cache and cache.blob:
                return False
            self.timing = cache
            return True

        def get_timing_cache(self):
            return self.timing

    class Builder:
        def __init__(self, logger):
            rec("Builder")
            self.logger = logger
            self.num_DLA_cores = dla_cores

        def create_network(self, flags=0):
            rec("create_network", flags)
            return INetworkDefinition(flags)

        def create_builder_config(self):
            rec("create_builder_config")
            return IBuilderConfig()

        def create_optimization_profile(self):
            rec("create_optimization_profile")
            return IOptimizationProfile()

        def build_serialized_network(self, network, config):
            rec("build_serialized_network")
            if config.int8_calibrator is not None:
                cal = config.int8_calibrator
                cache = cal.read_calibration_cache()
                if cache is None:
                    names = [t.name for t in network.inputs]
                    while True:
                        try:
                            ptrs = cal.get_batch(names)
                        except Exception as e:      # TensorRT: print the exception, take it as the end of data
                            rec("get_batch raised", repr(e))
                            ptrs = None
                        rec("get_batch", None if ptrs is None else tuple(ptrs))
                        if ptrs is None:
                            break
                        if len(ptrs) != len(names):
                            raise RuntimeError("get_batch returned %d pointers for %d inputs" % (len(ptrs), len(names)))
                        rec("batch data", _read_device(ptrs[0], network.inputs[0].shape,
                                                       "uint8" if network.inputs[0].dtype.name == "UINT8" else "float32"))
                    cal.write_calibration_cache(b"TRT-%d-EntropyCalibration2\ninput_1:0: 3c010a14\n" % major)
                else:
                    rec("calibration cache used")
            monitor = config.progress_monitor
            if monitor is not None:      # TensorRT 10+: phases with steps, one nested phase
                monitor.phase_start("Building engine", None, 3)
                for step in range(3):
                    if step == 1:
                        monitor.phase_start("Tactic selection", "Building engine", 2)
                        for sub in range(2):
                            if not monitor.step_complete("Tactic selection", sub):
                                return None            # the application cancelled the build
                        monitor.phase_finish("Tactic selection")
                    if not monitor.step_complete("Building engine", step):
                        return None
                monitor.phase_finish("Building engine")
                rec("progress monitor driven")
            config_state = {"flags": sorted(config.flags_set), "dla": config.DLA_core,
                            "device": config.default_device_type, "tactic_sources": config.tactic_sources}
            rec("built", config_state)
            return _engine_json(network, config, config_state, run_onnx)

    trt.Builder = Builder
    trt.OnnxParser = OnnxParser
    trt.IBuilderConfig = IBuilderConfig
    trt.INetworkDefinition = INetworkDefinition

    if major >= 10:
        class IProgressMonitor:
            def __init__(self):
                pass

        trt.IProgressMonitor = IProgressMonitor
    if major < 11:
        class IInt8EntropyCalibrator2:
            def __init__(self):
                pass

        trt.IInt8EntropyCalibrator2 = IInt8EntropyCalibrator2
    _add_runtime(trt)
    return trt


def _uint8_refusal(model, name):
    """Why TensorRT's parser would refuse uint8 input ``name`` (None: it takes it): only a Cast to float32 (1) or
    float16 (10) may read it, uint8 is never an intermediate tensor."""
    for n in model.graph.node:
        if name in n.input:
            to = next((a.i for a in n.attribute if a.name == "to"), None)
            if n.op_type != "Cast" or to not in (1, 10):
                return "In node %s (%s): TensorRT does not support UINT8 types for intermediate tensors!" % (
                    n.name, n.op_type)
    return None


def _engine_json(network, config, config_state, run_onnx):
    """The fake's serialized engine: the I/O (shapes with -1 where dynamic), the profile, how it was built."""
    shapes = config.profiles[0].shapes if config.profiles else {}
    spec = {"inputs": {}, "outputs": {}, "built": {k: (int(v) if not isinstance(v, list) else [int(f) for f in v])
                                                   for k, v in config_state.items()}}
    for t in network.inputs:
        entry = {"shape": [int(d) for d in t.shape], "dtype": "uint8" if t.dtype.name == "UINT8" else "float32"}
        if t.name in shapes:
            entry["profile"] = shapes[t.name]
        spec["inputs"][t.name] = entry
    for t in network.outputs:
        spec["outputs"][t.name] = {"shape": [int(d) for d in t.shape], "dtype": "float32"}
    if run_onnx:
        spec["onnx"] = network.source
    return json.dumps(spec).encode()


def _add_runtime(trt):
    """The runtime half: Runtime, ICudaEngine, IExecutionContext, TensorIOMode, nptype (per fake module)."""
    trt.EXECUTE_SECONDS = [0.0]    # a "kernel time", to give concurrent callers a chance to overlap
    trt.TensorIOMode = enum.Enum("TensorIOMode", {"NONE": 0, "INPUT": 1, "OUTPUT": 2})
    np_names = {"FLOAT": "float32", "HALF": "float16", "INT8": "int8", "INT32": "int32", "BOOL": "bool"}
    if hasattr(trt.DataType, "UINT8"):
        np_names["UINT8"] = "uint8"

    def nptype(dtype):
        v = tuple(int(x) for x in np.__version__.split(".")[:2])
        if trt.__version__.startswith("8.5.") and v >= (1, 24):
            raise AttributeError("module 'numpy' has no attribute 'bool'")      # TensorRT 8.5.2's nptype
        return np.dtype(np_names[dtype.name]).type

    trt.nptype = nptype
    by_numpy = {v: trt.DataType[k] for k, v in np_names.items()}
    sessions = {}

    class Logger(trt.ILogger):
        def __init__(self, min_severity=None):
            trt.ILogger.__init__(self)

        def log(self, severity, msg):
            pass

    class Runtime:
        def __init__(self, logger):
            if not isinstance(logger, trt.ILogger):
                raise TypeError("Runtime needs an ILogger")
            self.logger = logger

        def deserialize_cuda_engine(self, blob):
            trt.calls.append(("deserialize_cuda_engine", len(blob)))
            if not fake_cuda.STATE.stack():
                raise RuntimeError("no current CUDA context")
            try:
                spec = json.loads(bytes(blob).decode("utf-8"))
            except ValueError:
                self.logger.log(trt.ILogger.Severity.ERROR, "fake: engine deserialization failed")
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
            return trt.TensorIOMode.INPUT if name in self.spec["inputs"] else trt.TensorIOMode.OUTPUT

        def _t(self, name):
            return self.spec["inputs"].get(name) or self.spec["outputs"][name]

        def get_tensor_shape(self, name):
            return tuple(self._t(name)["shape"])

        def get_tensor_dtype(self, name):
            return by_numpy[self._t(name).get("dtype", "float32")]

        def get_tensor_profile_shape(self, name, profile_index):
            trt.calls.append(("get_tensor_profile_shape", name, profile_index))
            return [tuple(s) for s in self.spec["inputs"][name]["profile"]]

        def create_execution_context(self):
            trt.calls.append(("create_execution_context",))
            return IExecutionContext(self)

    class IExecutionContext:
        def __init__(self, engine):
            self.engine = engine
            self.input_shapes = {}
            self.addresses = {}
            self.busy = threading.Lock()

        def set_input_shape(self, name, shape):
            trt.calls.append(("set_input_shape", name, tuple(shape)))
            spec = self.engine.spec["inputs"][name]
            lo, hi = (spec["profile"][0], spec["profile"][2]) if "profile" in spec else (spec["shape"], spec["shape"])
            if len(shape) != len(lo) or not all(a <= s <= b for a, s, b in zip(lo, shape, hi)):
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
            trt.calls.append(("set_tensor_address", name, int(ptr)))
            self.addresses[name] = int(ptr)
            return True

        def execute_async_v3(self, stream_handle):
            trt.calls.append(("execute_async_v3", stream_handle))
            if not fake_cuda.STATE.stack():
                raise RuntimeError("execute without a current CUDA context")
            if not self.busy.acquire(blocking=False):
                raise RuntimeError("IExecutionContext used by two threads at once (not reentrant)")
            try:
                time.sleep(trt.EXECUTE_SECONDS[0])
                return self._execute()
            finally:
                self.busy.release()

        def _inputs(self):
            spec = self.engine.spec
            return {name: _device_array(self.addresses[name], self.get_tensor_shape(name),
                                        np.dtype(ispec.get("dtype", "float32")))
                    for name, ispec in spec["inputs"].items()}

        def _execute(self):
            spec = self.engine.spec
            xs = self._inputs()
            if spec.get("onnx"):
                if spec["onnx"] not in sessions:
                    import onnxruntime as ort

                    sessions[spec["onnx"]] = ort.InferenceSession(spec["onnx"], providers=["CPUExecutionProvider"])
                names = list(spec["outputs"])
                for name, y in zip(names, sessions[spec["onnx"]].run(names, xs)):
                    _device_write(self.addresses[name], y.astype(spec["outputs"][name].get("dtype", "float32")))
                return True
            x = next(iter(xs.values()))
            means = x.reshape(x.shape[0], -1).astype(np.float64).mean(axis=1)
            for out, ospec in spec["outputs"].items():
                shape = self.get_tensor_shape(out)
                y = np.empty(shape, dtype=np.float64)
                y[...] = means.reshape((-1,) + (1,) * (len(shape) - 1)) * (np.arange(shape[-1]) + 1.0)
                _device_write(self.addresses[out], y.astype(ospec.get("dtype", "float32")))
            return True

    trt.Logger, trt.Runtime, trt.ICudaEngine, trt.IExecutionContext = Logger, Runtime, ICudaEngine, IExecutionContext


def _device_array(address, shape, dtype):
    n = int(np.prod(shape)) * np.dtype(dtype).itemsize
    return np.frombuffer(bytes(fake_cuda.STATE.device_mem[int(address)][:n]), dtype).reshape(shape)


def _device_write(address, array):
    b = np.ascontiguousarray(array).tobytes()
    mem = fake_cuda.STATE.device_mem[int(address)]
    if len(b) > len(mem):
        raise RuntimeError("fake kernel: output of %d bytes overruns its %d-byte device buffer" % (len(b), len(mem)))
    mem[:len(b)] = b


def _read_device(ptr, shape, dtype="float32"):
    """The batch at fake device address ``ptr`` (fake_cuda_python's memory), as the network input's type."""
    return _device_array(ptr, tuple(1 if d < 0 else d for d in shape), np.dtype(dtype))


def install(monkeypatch, version="10.3.0", **kw):
    """Put a fresh fake in ``sys.modules["tensorrt"]`` (and a fresh logger bridge); returns it."""
    trt = make_fake_tensorrt(version, **kw)
    monkeypatch.setitem(sys.modules, "tensorrt", trt)
    from edgepose.engine import trt as seam

    monkeypatch.setattr(seam, "_LOGGER", {})
    return trt
