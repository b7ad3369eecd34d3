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


def make_fake_tensorrt(version="10.3.0", dla_cores=2, fail_parse=False):
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
                        ptrs = cal.get_batch(names)
                        rec("get_batch", None if ptrs is None else tuple(ptrs))
                        if ptrs is None:
                            break
                    cal.write_calibration_cache(b"TRT-%d-EntropyCalibration2\ninput_1:0: 3c010a14\n" % major)
                else:
                    rec("calibration cache used")
            config_state = {"flags": list(config.flags_set), "dla": config.DLA_core,
                            "device": config.default_device_type}
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


def install(monkeypatch, version="10.3.0", **kw):
    trt = make_fake_tensorrt(version, **kw)
    monkeypatch.setitem(sys.modules, "tensorrt", trt)
    from edgepose.engine import trt as seam

    monkeypatch.setattr(seam, "_LOGGER", {})
    return trt
