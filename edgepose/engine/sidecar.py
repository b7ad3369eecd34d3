"""The JSON sidecar beside every built engine, and the check the runtime makes before deserializing.

``<engine>.json`` records what the engine was built from and for: source ONNX sha256, profile, I/O
names and shapes, precision, batch range, input size, TensorRT version, GPU/SoC name and compute
capability, DLA core, calibration set and cache hashes, build time, and the ``edgepose build`` command
that rebuilds it. An engine only runs on the TensorRT version and GPU it was built for, so the runtime
calls ``check_sidecar`` first and refuses a mismatch in one line that carries the rebuild command.

This module never imports tensorrt.
"""
import json
import os
import shlex

from ..atomic import write_json_atomic
from ..errors import EngineError

FORMAT = "edgepose-engine/1"


def sidecar_path(engine_path):
    return os.fspath(engine_path) + ".json"


def write_sidecar(engine_path, data):
    out = dict(data)
    out["format"] = FORMAT
    write_json_atomic(sidecar_path(engine_path), out)
    return sidecar_path(engine_path)


def build_command(argv):
    """Shell-quoted ``edgepose build ...`` from the recorded argument list."""
    return " ".join(shlex.quote(str(a)) for a in ["edgepose", "build"] + list(argv or []))


def read_sidecar(engine_path):
    """The sidecar dict of ``engine_path``; ``EngineError`` when it is missing or unreadable."""
    path = sidecar_path(engine_path)
    try:
        with open(path) as f:
            data = json.load(f)
    except FileNotFoundError:
        raise EngineError("%s: no sidecar %s, so this engine cannot be checked against this device; "
                          "rebuild it with `edgepose build MODEL.onnx --profile P ...`" % (engine_path, path))
    except (OSError, ValueError) as e:
        raise EngineError("%s: unreadable sidecar (%s); rebuild the engine with `edgepose build`" % (path, e))
    if not isinstance(data, dict) or data.get("format") != FORMAT:
        raise EngineError("%s: not an edgepose engine sidecar (format %r, expected %r); rebuild with `edgepose build`"
                          % (path, data.get("format") if isinstance(data, dict) else None, FORMAT))
    return data


def _version3(text):
    import re

    return tuple(int(v) for v in re.findall(r"\d+", str(text))[:3])


def _norm_name(text):
    return " ".join(str(text or "").lower().replace("nvidia", "").split())


def check_sidecar(engine_path, trt_version, device_name, compute_capability):
    """Sidecar dict if the engine was built for this TensorRT version and device, else one-line ``EngineError``.

    TensorRT versions must agree on major.minor.patch; the GPU on compute capability and name.
    """
    data = read_sidecar(engine_path)
    dev = data.get("device") or {}
    problems = []
    if _version3(data.get("tensorrt_version")) != _version3(trt_version):
        problems.append("TensorRT %s, this machine has %s" % (data.get("tensorrt_version"), trt_version))
    if str(dev.get("compute_capability")) != str(compute_capability):
        problems.append("compute capability %s, this GPU is %s" % (dev.get("compute_capability"), compute_capability))
    elif _norm_name(dev.get("name")) != _norm_name(device_name):
        problems.append("GPU %r, this GPU is %r" % (dev.get("name"), device_name))
    if problems:
        raise EngineError("%s was built for %s: rebuild it here with `%s`"
                          % (engine_path, " and ".join(problems), data.get("build_command") or build_command(None)))
    return data
