"""The TensorRT seam of the build side: lazy import, version and capabilities, logger bridge, device info.

Nothing here imports tensorrt or pycuda at module import time. ``import_trt()`` raises a one-line
``DependencyError`` that says where TensorRT comes from on a Jetson (JetPack, not pip).
``Capabilities.of(trt)`` says which build path the installed version takes:

- 8.5 / 8.6 / 10.x ("weakly typed"): EXPLICIT_BATCH flag on 8.x only, FP16/INT8 builder flags,
  implicit INT8 calibration (``IInt8EntropyCalibrator2``) or explicit Q/DQ models;
- 11.x ("strongly typed"): ``NetworkDefinitionCreationFlag.STRONGLY_TYPED``, precision from the ONNX.

uint8 network inputs (``DataType.UINT8``, the ``-u8`` profiles) exist since TensorRT 8.5.1 (so on JetPack 5.1's
8.5.2, 6.2's 10.3 and 11.x), as network inputs/outputs only: the uint8 tensor must go straight into a Cast to
float32/float16 (IIdentityLayer on 8.5/8.6, ICastLayer since 10), which is how ``edgepose.onnxfront`` builds
the front. Earlier versions have no such type; ``Capabilities.uint8_input`` says which.
"""
import glob
import logging
import os
import re
from dataclasses import dataclass

from .. import deps
from ..errors import DependencyError, EngineError

log = logging.getLogger(__name__)

TRT_HINT = deps.hint("tensorrt")
PYCUDA_HINT = deps.hint("pycuda")
CUDA_PYTHON_HINT = deps.hint("cuda")


def import_trt():
    """The ``tensorrt`` module, or ``DependencyError``."""
    return deps.load("tensorrt", "the TensorRT engine build/runtime")


def import_pycuda():
    """``pycuda.driver`` (not initialised), or ``DependencyError`` (it fails to import without libcuda.so.1)."""
    return deps.load("pycuda", "the GPU buffers (pycuda)")


def import_cuda_python():
    """``(driver module, version)`` of cuda-python: ``cuda.bindings.driver`` (12.6+), else the older
    ``cuda.cuda``; or ``DependencyError``. Importing works without a driver; the first call fails then."""
    try:
        driver = deps.load("cuda", "the GPU buffers (cuda-python)", "cuda.bindings.driver")
        pkg = deps.load("cuda", "the GPU buffers (cuda-python)", "cuda.bindings")
    except DependencyError:  # cuda-python before 12.6: cuda.cuda
        driver = deps.load("cuda", "the GPU buffers (cuda-python)", "cuda.cuda")
        pkg = deps.load("cuda", "the GPU buffers (cuda-python)", "cuda")
    return driver, str(getattr(pkg, "__version__", "?"))


def import_cuda():
    """``pycuda.driver`` initialised, or ``DependencyError`` (kept for the build side's device query)."""
    cuda = import_pycuda()
    try:
        cuda.init()
    except Exception as e:
        raise DependencyError("pycuda is not usable (%s): %s" % (first_line(e), PYCUDA_HINT))
    return cuda


def first_line(e):
    text = str(e).strip()
    return text.splitlines()[0] if text else type(e).__name__


def parse_version(text):
    """``"10.3.0.26"`` -> (10, 3, 0); unknown parts are 0."""
    nums = [int(v) for v in re.findall(r"\d+", str(text))[:3]]
    return tuple(nums + [0] * (3 - len(nums)))


def version_string(trt):
    return ".".join(str(v) for v in parse_version(getattr(trt, "__version__", "0")))


@dataclass(frozen=True)
class Capabilities:
    """What the installed TensorRT can do, derived from its version and its Python API."""

    version: tuple
    explicit_batch_flag: bool   # 8.x: networks must be created with EXPLICIT_BATCH
    strongly_typed: bool        # 11.x: the only path; precision comes from the ONNX types
    builder_precision_flags: bool  # BuilderFlag.FP16 / INT8 exist
    implicit_int8: bool         # IInt8EntropyCalibrator2 exists
    dla: bool                   # DeviceType.DLA exists in the API (the device may still have no DLA core)
    timing_cache: bool
    uint8_input: bool = True    # DataType.UINT8 exists: network inputs may be uint8 (8.5.1+)

    @property
    def path(self):
        return "strongly-typed" if self.strongly_typed else "weakly-typed"

    @classmethod
    def of(cls, trt):
        v = parse_version(getattr(trt, "__version__", "0"))
        if v < (8, 5, 0):
            raise DependencyError("TensorRT %s is too old: edgepose needs 8.5 or newer (JetPack 5.1+)"
                                  % ".".join(map(str, v)))
        bflag = getattr(trt, "BuilderFlag", None)
        return cls(
            version=v,
            explicit_batch_flag=v[0] < 10,
            strongly_typed=v[0] >= 11,
            builder_precision_flags=hasattr(bflag, "FP16") and hasattr(bflag, "INT8"),
            implicit_int8=hasattr(trt, "IInt8EntropyCalibrator2"),
            dla=hasattr(getattr(trt, "DeviceType", None), "DLA"),
            timing_cache=hasattr(getattr(trt, "IBuilderConfig", None), "create_timing_cache"),
            uint8_input=hasattr(getattr(trt, "DataType", None), "UINT8"),
        )

    def describe(self):
        """Lines saying what this TensorRT supports."""
        v = ".".join(map(str, self.version))
        lines = ["TensorRT %s: %s build path" % (v, self.path)]
        if self.strongly_typed:
            lines.append("  precision from the ONNX: fp32 model, fp16 via `edgepose prepare --fp16`, "
                         "int8 via a Q/DQ model from `edgepose quantize`")
        else:
            lines.append("  fp32, fp16, int8 with calibration (--calib) or a Q/DQ model, best")
        lines.append("  DLA API: %s; timing cache: %s; uint8 inputs (-u8 profiles): %s" % (
            "yes" if self.dla else "no", "yes" if self.timing_cache else "no", "yes" if self.uint8_input else "no"))
        return lines


_LOGGER = {}


def get_logger(trt, verbose=False):
    """One ``trt.ILogger`` per process bridged into ``logging`` (each distinct warning shown once)."""
    key = id(trt)
    if key in _LOGGER:
        return _LOGGER[key]
    sev = trt.ILogger.Severity
    levels = {sev.INTERNAL_ERROR: logging.CRITICAL, sev.ERROR: logging.ERROR, sev.WARNING: logging.WARNING,
              sev.INFO: logging.DEBUG, sev.VERBOSE: logging.DEBUG}
    trt_log = logging.getLogger("edgepose.tensorrt")

    class LoggingBridge(trt.ILogger):
        def __init__(self):
            trt.ILogger.__init__(self)
            self.seen = set()

        def log(self, severity, msg):
            level = levels.get(severity, logging.INFO)
            if level == logging.WARNING:
                if msg in self.seen:
                    return
                self.seen.add(msg)
            trt_log.log(level, "%s", msg)

    _LOGGER[key] = LoggingBridge()
    return _LOGGER[key]


def parser_errors(parser):
    """Every error the ONNX parser recorded, as text lines."""
    return [str(parser.get_error(i)) for i in range(parser.num_errors)]


def has_cuda_device():
    """True when an NVIDIA driver and device look present (device nodes or libcuda), without touching CUDA."""
    if glob.glob("/dev/nvidia[0-9]*") or os.path.exists("/dev/nvhost-ctrl-gpu") or os.path.exists("/dev/nvgpu"):
        return True
    return False


def jetson_model():
    """The SoC/board name from the device tree (Jetson), or None."""
    for p in ("/proc/device-tree/model", "/sys/firmware/devicetree/base/model"):
        try:
            with open(p, "rb") as f:
                return f.read().decode("ascii", "replace").strip("\x00 \n")
        except OSError:
            continue
    return None


def device_info(cuda=None, index=0):
    """``{"name", "compute_capability", "soc"}`` of CUDA device ``index`` (pycuda), or EngineError."""
    cuda = cuda or import_cuda()
    try:
        dev = cuda.Device(index)
        major, minor = dev.compute_capability()
        name = dev.name()
    except Exception as e:
        raise EngineError("CUDA device %d is not usable (%s): check the NVIDIA driver with nvidia-smi/tegrastats"
                          % (index, e))
    return {"name": str(name), "compute_capability": "%d.%d" % (major, minor), "soc": jetson_model()}


def device_tag(info, dla_core=None):
    """Short file-name form of the device: ``orin``, ``geforce-rtx-3060``, ``orin-dla0``."""
    name = str(info.get("name") or "gpu").lower()
    name = re.sub(r"^nvidia\s+", "", name)
    tag = re.sub(r"[^a-z0-9]+", "-", name).strip("-") or "gpu"
    return tag + ("-dla%d" % dla_core if dla_core is not None else "")
