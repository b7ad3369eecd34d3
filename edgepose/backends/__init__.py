"""Inference backends: the same protocol for ONNX Runtime (any machine) and TensorRT (Jetson).

``open_backend(model_path, profile, ...)`` picks the backend from the file: ``.onnx`` -> ONNX Runtime,
``.engine``/``.plan``/``.trt`` -> TensorRT (imported lazily; the only module importing tensorrt/pycuda).
"""
import os

from ..errors import ModelError
from .base import Backend, TensorInfo  # noqa: F401

ENGINE_SUFFIXES = (".engine", ".plan", ".trt")


def open_backend(model_path, profile=None, threads=None, lanes=1, **kwargs):
    """Open ``model_path`` with the right backend (ONNX Runtime for .onnx, TensorRT for engines).
    ``lanes``: TensorRT execution contexts that may run at once (ignored by ONNX Runtime)."""
    path = os.fspath(model_path)
    if not os.path.isfile(path):
        raise ModelError("%s: model file not found (give an .onnx model or a TensorRT .engine)" % path)
    if path.lower().endswith(ENGINE_SUFFIXES):
        from .tensorrt import TensorRTBackend

        return TensorRTBackend(path, profile=profile, lanes=lanes, **kwargs)
    from .onnxruntime import OnnxRuntimeBackend

    return OnnxRuntimeBackend(path, threads=threads, **kwargs)
