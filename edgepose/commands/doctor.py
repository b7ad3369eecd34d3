"""``edgepose doctor``: what this machine has (TensorRT, CUDA, pycuda, DLA, OpenCV, cameras) and can do."""
import glob
import json
import logging
import os
import platform
import re

from .. import deps
from ..errors import DependencyError

NAME = "doctor"
HELP = ("report TensorRT, CUDA (pycuda/cuda-python), DLA, OpenCV (GStreamer/V4L2/FFMPEG) and cameras, and what works "
        "here; --selftest runs the device self-test")

log = logging.getLogger(__name__)


def add_arguments(p):
    p.add_argument("--selftest", action="store_true",
                   help="run the device self-test instead (as tools/device_check.py): one PASS/FAIL/SKIP line per "
                        "item, exit 1 on any FAIL")
    p.add_argument("--json", action="store_true",
                   help="print one JSON object (versions, devices, cameras, what works here, the report lines)")
    from ..selftest import add_arguments as selftest_arguments

    selftest_arguments(p.add_argument_group("self-test options (with --selftest)"))


def check_tensorrt():
    """``{"ok", "version", "lines"}`` (imports tensorrt, creates nothing)."""
    from ..engine.trt import Capabilities, TRT_HINT, import_trt
    from ..errors import DependencyError, EdgeposeError

    try:
        trt = import_trt()
    except DependencyError as e:
        cause = getattr(e, "__cause__", None) or getattr(e, "__context__", None)
        why = str(cause).splitlines()[0] if cause is not None and str(cause) else "not importable"
        return {"ok": False, "version": None, "trt": None,
                "lines": ["TensorRT: missing (%s)" % why, "  " + TRT_HINT]}
    try:
        caps = Capabilities.of(trt)
    except EdgeposeError as e:
        return {"ok": False, "version": getattr(trt, "__version__", "?"), "trt": None, "lines": ["TensorRT: %s" % e]}
    return {"ok": True, "version": trt.__version__, "trt": trt, "caps": caps, "lines": caps.describe()}


def check_cuda():
    """``{"ok", "library", "devices": [info], "lines"}``: each CUDA library (pycuda, cuda-python), lazily,
    which one edgepose uses (pycuda first, or $EDGEPOSE_CUDA), and the devices it sees."""
    from ..backends.cudalib import LIBRARIES, load_cuda
    from ..engine.trt import CUDA_PYTHON_HINT, PYCUDA_HINT, has_cuda_device, jetson_model
    from ..errors import DependencyError

    lines = []
    soc = jetson_model()
    if soc:
        lines.append("board: %s" % soc)
    if os.path.exists("/usr/local/cuda"):
        ver = _read_first(["/usr/local/cuda/version.json", "/usr/local/cuda/version.txt"])
        lines.append("CUDA toolkit: /usr/local/cuda%s" % (" (%s)" % ver if ver else ""))
    else:
        lines.append("CUDA toolkit: /usr/local/cuda not found")
    usable = {}
    for name in LIBRARIES:
        try:
            lib = load_cuda(name)
            usable[name] = lib
            lines.append("%s %s: usable" % (name, lib.version))
        except DependencyError as e:
            lines.append("%s: not usable (%s)" % (name, e))
    try:
        chosen = load_cuda()
    except DependencyError:
        chosen = None
    if chosen is None:
        lines.append("  no CUDA library for TensorRT buffers: " + PYCUDA_HINT)
        lines.append("  or: " + CUDA_PYTHON_HINT)
        lines.append("NVIDIA device nodes: %s" % ("present" if has_cuda_device() else "none"))
        return {"ok": False, "library": None, "devices": [], "lines": lines}
    devices = []
    try:
        n = chosen.device_count()
        for i in range(n):
            d = chosen.device(i)
            devices.append({"name": d.name, "compute_capability": d.compute_capability})
            lines.append("GPU %d: %s (compute capability %s, %.1f GiB%s)" % (
                i, d.name, d.compute_capability, d.total_memory / 2.0 ** 30, ", integrated" if d.integrated else ""))
    except Exception as e:
        lines.append("CUDA devices: not readable through %s (%s)" % (chosen.name, e))
        return {"ok": False, "library": chosen.name, "devices": [], "lines": lines}
    lines.append("TensorRT buffers use: %s (set EDGEPOSE_CUDA=pycuda|cuda-python to choose)" % chosen.name)
    return {"ok": bool(devices), "library": chosen.name, "devices": devices, "lines": lines}


def dla_cores(trt):
    """Number of DLA cores (creates a trt.Builder: call only when a CUDA device exists)."""
    from ..engine.trt import get_logger

    builder = trt.Builder(get_logger(trt))
    return int(builder.num_DLA_cores) if builder is not None else 0


def check_opencv():
    try:
        cv2 = deps.load("cv2", "edgepose")
    except DependencyError as e:
        return {"ok": False, "gstreamer": False, "lines": ["OpenCV: missing (%s)" % e]}
    info = cv2.getBuildInformation()
    found = {}
    for key in ("GStreamer", "V4L/V4L2", "FFMPEG"):
        m = re.search(r"^\s*%s:\s*(.+)$" % re.escape(key), info, re.M)
        found[key] = bool(m) and m.group(1).strip().upper().startswith("YES")
    lines = ["OpenCV %s: GStreamer %s, V4L2 %s, FFMPEG %s" % (cv2.__version__, *("yes" if found[k] else "no"
                                                                            for k in ("GStreamer", "V4L/V4L2", "FFMPEG")))]
    if not found["GStreamer"]:
        lines.append("  no GStreamer: CSI cameras (csi://N) and hardware RTSP decoding need JetPack's OpenCV "
                     "(pip's opencv-python has none; make the venv with --system-site-packages)")
    return {"ok": True, "gstreamer": found["GStreamer"], "v4l2": found["V4L/V4L2"], "ffmpeg": found["FFMPEG"],
            "lines": lines}


def check_cameras():
    cams = sorted(glob.glob("/dev/video*"))
    return {"cameras": cams, "lines": ["cameras: %s" % (", ".join(cams) if cams else "no /dev/video* device")]}


def _pkg_version(name):
    try:
        from importlib.metadata import version

        return version(name)
    except Exception:
        return "?"


def _read_first(paths):
    for p in paths:
        try:
            with open(p) as f:
                text = f.read()
            m = re.search(r"\d+\.\d+(\.\d+)?", text)
            return m.group(0) if m else None
        except OSError:
            continue
    return None


def diagnose():
    """All checks: ``(lines, summary dict)``. Never raises, never creates a TensorRT runtime without a GPU."""
    lines = ["edgepose doctor on %s %s, Python %s" % (platform.system(), platform.machine(), platform.python_version())]
    t = check_tensorrt()
    c = check_cuda()
    lines += t["lines"] + c["lines"]
    dla = None
    if t["ok"] and c["ok"]:
        try:
            dla = dla_cores(t["trt"])
            lines.append("DLA cores: %d" % dla)
        except Exception as e:
            lines.append("DLA cores: unknown (%s)" % e)
    o = check_opencv()
    cams = check_cameras()
    lines += o["lines"] + cams["lines"]
    try:
        ort = deps.load("onnxruntime", "edgepose")
        lines.append("ONNX Runtime %s: providers %s" % (ort.__version__, ", ".join(ort.get_available_providers())))
        have_ort = True
    except DependencyError as e:
        lines.append("ONNX Runtime: missing (%s)" % e)
        have_ort = False
    can = []
    if have_ort:
        can.append("run .onnx models on the CPU (ONNX Runtime); prepare and quantize models")
    if t["ok"] and c["ok"]:
        caps = t["caps"]
        can.append("build and run TensorRT engines (%s)" % ("precision from the ONNX: fp32/fp16/Q/DQ int8"
                                                            if caps.strongly_typed else "fp32/fp16/int8/best"))
        if dla:
            can.append("build DLA engines (--dla 0..%d)" % (dla - 1))
    else:
        can.append("NOT build or run TensorRT engines here (%s)" % (
            "TensorRT is missing" if not t["ok"] else "no usable CUDA device through pycuda or cuda-python"))
    if o["ok"]:
        src = ["video files", "image folders"]
        if o.get("v4l2"):
            src.append("USB cameras (/dev/videoN)")
        if o.get("ffmpeg"):
            src.append("RTSP (FFMPEG)")
        if o.get("gstreamer"):
            src.append("CSI cameras and GStreamer pipelines")
        can.append("read " + ", ".join(src))
    lines.append("so this machine can:")
    lines += ["  - " + s for s in can]
    return lines, {"system": platform.system(), "machine": platform.machine(),
                   "python": platform.python_version(), "edgepose": _pkg_version("edgepose"),
                   "tensorrt": t["version"], "cuda": c["ok"], "cuda_library": c["library"],
                   "gpus": c.get("devices", []), "dla_cores": dla,
                   "opencv": getattr(deps.optional("cv2"), "__version__", None) if o["ok"] else None,
                   "gstreamer": o.get("gstreamer", False), "v4l2": o.get("v4l2", False),
                   "ffmpeg": o.get("ffmpeg", False), "cameras": cams["cameras"],
                   "onnxruntime": ort.__version__ if have_ort else None,
                   "onnxruntime_providers": ort.get_available_providers() if have_ort else [],
                   "can": can}


def run(args):
    if args.selftest:
        from ..selftest import run as selftest

        return selftest(args)
    lines, summary = diagnose()
    if args.json:
        summary["report"] = lines
        print(json.dumps(summary, indent=1))
        return 0
    print("\n".join(lines))
    return 0
