"""The one place optional libraries are imported, lazily, each with its install hint.

``import edgepose`` and every ``--help`` work on a machine without any of them: a module asks for a
library when it needs it, ``cv2 = deps.load("cv2", "sinks.snapshots")``, and gets the module or a
``DependencyError`` whose single line says who needed what, why the import failed and how to
install it (the CLI prints that line, no traceback, exit 1). ``deps.optional(name)`` is for a
library that only speeds something up (the module, or None).

The seam test (``tests/test_cli_and_seams.py``) blocks every library named here and imports every
module of the package.
"""
import importlib
from typing import NamedTuple

from .errors import DependencyError

_JETPACK_VENV = "make the venv with --system-site-packages"


class Library(NamedTuple):
    module: str   # what ``load`` imports
    what: str     # the name users know
    hint: str     # how to get it


LIBRARIES = {
    "tensorrt": Library(
        "tensorrt", "TensorRT",
        "on a Jetson TensorRT comes with JetPack (apt install python3-libnvinfer; %s); "
        "`pip install tensorrt` only works on x86 with a CUDA driver" % _JETPACK_VENV),
    "pycuda": Library(
        "pycuda.driver", "pycuda",
        "`pip install pycuda` (extra `jetson`: it compiles against /usr/local/cuda, nvcc on PATH) on a machine "
        "with an NVIDIA driver (libcuda.so.1), or use cuda-python instead (`pip install cuda-python`)"),
    "cuda": Library(
        "cuda.bindings.runtime", "cuda-python",
        "`pip install cuda-python` (extra `cuda-python`) with the major version of the device's CUDA (aarch64 "
        "wheels exist); it needs an NVIDIA driver (libcuda.so.1)"),
    "cv2": Library(
        "cv2", "OpenCV (cv2)",
        "pip install opencv-python-headless, or on a Jetson JetPack's OpenCV (python3-opencv; %s)" % _JETPACK_VENV),
    "onnxruntime": Library("onnxruntime", "ONNX Runtime", "pip install onnxruntime"),
    "paho": Library("paho.mqtt.client", "paho-mqtt 2.x", "pip install 'paho-mqtt>=2.0'"),
    "scipy": Library("scipy.optimize", "SciPy", "pip install scipy"),
    "tqdm": Library("tqdm", "tqdm", "pip install tqdm (progress bars; without it long jobs log plain lines)"),
}


def _reason(exc):
    text = str(exc).splitlines()[0] if str(exc) else ""
    return text or type(exc).__name__


# OpenCV and its FFMPEG print "[ WARN:0@0.1] ..." / "[mov,mp4 @ 0x...] moov atom not found" on stderr
# beside edgepose's own one-line errors, which already say what failed. Quiet them unless debug
# output is asked for (-vv); a value the user set in the environment wins.
_QUIET_ENV = {"cv2": {"OPENCV_LOG_LEVEL": "ERROR", "OPENCV_FFMPEG_LOGLEVEL": "-8"}}


def _quiet(name):
    import logging
    import os
    import sys

    env = _QUIET_ENV.get(name)
    if env and LIBRARIES[name].module not in sys.modules and \
            not logging.getLogger("edgepose").isEnabledFor(logging.DEBUG):
        for key, value in env.items():
            os.environ.setdefault(key, value)


def load(name, purpose, module=None):
    """The module of library ``name`` (a key of ``LIBRARIES``), or ``DependencyError``.

    purpose: who needs it, for the message ("sinks.snapshots", "edgepose run --show").
    module: a submodule to import instead of the library's default one ("onnxruntime.quantization").
    """
    lib = LIBRARIES[name]
    target = module or lib.module
    if target.split(".")[0] != lib.module.split(".")[0]:
        raise ValueError("deps.load(%r): %r is not part of %s" % (name, target, lib.what))
    _quiet(name)
    try:
        return importlib.import_module(target)
    except Exception as e:  # ImportError, and OSError/RuntimeError from a library without its driver
        raise DependencyError("%s needs %s (%s: %s): %s" % (purpose, lib.what, target, _reason(e), lib.hint))


def optional(name, module=None):
    """The module of library ``name``, or None when it cannot be imported."""
    try:
        return load(name, "edgepose", module)
    except DependencyError:
        return None


def hint(name):
    """The install hint of library ``name`` (for ``edgepose doctor``)."""
    return LIBRARIES[name].hint
