"""FAKE tensorrt (test-only): enough of the Python API to drive edgepose.engine.builder, recording every call.

``make_fake_tensorrt("10.3.0")`` models 8.x/10.x (builder flags, IInt8EntropyCalibrator2,
EXPLICIT_BATCH on 8.x); ``"11.4.0"`` models 11.x (STRONGLY_TYPED only, no FP16/INT8 flags, no
calibrator). The parser reads the real ONNX file's I/O. ``build_serialized_network`` drives an INT8
calibrator like TensorRT: read the cache; without one, ``get_batch`` until ``None``, then write it.
``trt.calls`` is the ordered call log.
"""
import enum
import sys
import types


def make_fake_tensorrt(version="10.3.0", dla_cores=2, fail_parse=False, dla_layers=None, refuse_timing_cache=False):
    """``dla_layers``: how many of the network's layers ``can_run_on_DLA`` says yes to (default: all)."""
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
    trt.DataType = enum.IntEnum("DataType", {"FLOAT": 0, "HALF": 1, "INT8": 2})

    class Tensor:
        def __init__(self, name, shape):
            self.name, self.shape, self.dtype = name, tuple(shape), trt.DataType.FLOAT

    class INetworkDefinition:
        def __init__(self, flags):
            self.flags = flags
            self.inputs, self.outputs = [], []

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
            return 10

        def get_layer(self, i):
            if not 0 <= i < 10:
                raise IndexError(i)
            return ("layer", i)

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
            import onnx

            m = onnx.load(path, load_external_data=False)
            init = {i.name for i in m.graph.initializer}

            def dims(vi):
                return [d.dim_value if d.HasField("dim_value") else -1 for d in vi.type.tensor_type.shape.dim]

            self.network.inputs = [Tensor(i.name, dims(i)) for i in m.graph.input if i.name not in init]
            self.network.outputs = [Tensor(o.name, dims(o)) for o in m.graph.output]
            return True

        @property
        def num_errors(self):
            return len(self.errors)

        def get_error(self, i):
            return self.errors[i]

    class IOptimizationProfile:
        def set_shape(self, name, min, opt, max):
            rec("set_shape", name, tuple(min), tuple(opt), tuple(max))

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
            self.flags_set.append(trt.BuilderFlag.TF32)      # TensorRT's default: TF32 on

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
            return layer[1] < (10 if dla_layers is None else dla_layers)

        def set_memory_pool_limit(self, pool, size):
            rec("set_memory_pool_limit", pool, size)

        def set_flag(self, flag):
            rec("set_flag", flag)
            self.flags_set.append(flag)

        def add_optimization_profile(self, p):
            rec("add_optimization_profile")
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
                        rec("batch data", _read_device(ptrs[0], network.inputs[0].shape))
                    cal.write_calibration_cache(b"TRT-%d-EntropyCalibration2\ninput_1:0: 3c010a14\n" % major)
                else:
                    rec("calibration cache used")
            config_state = {"flags": sorted(config.flags_set), "dla": config.DLA_core,
                            "device": config.default_device_type, "tactic_sources": config.tactic_sources}
            rec("built", config_state)
            return b"FAKE-ENGINE " + repr(config_state).encode()

    trt.Builder = Builder
    trt.OnnxParser = OnnxParser
    trt.IBuilderConfig = IBuilderConfig
    trt.INetworkDefinition = INetworkDefinition

    if major < 11:
        class IInt8EntropyCalibrator2:
            def __init__(self):
                pass

        trt.IInt8EntropyCalibrator2 = IInt8EntropyCalibrator2
    return trt


def _read_device(ptr, shape):
    """The float32 batch at fake device address ``ptr`` (fake_cuda_python's memory)."""
    import numpy as np

    from . import fake_cuda_python

    shape = tuple(1 if d < 0 else d for d in shape)
    n = int(np.prod(shape)) * 4
    return np.frombuffer(bytes(fake_cuda_python.STATE.device_mem[int(ptr)][:n]), np.float32).reshape(shape)


def install(monkeypatch, version="10.3.0", **kw):
    trt = make_fake_tensorrt(version, **kw)
    monkeypatch.setitem(sys.modules, "tensorrt", trt)
    from edgepose.engine import trt as seam

    monkeypatch.setattr(seam, "_LOGGER", {})
    return trt
