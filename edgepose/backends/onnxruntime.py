"""ONNX Runtime backend (CPU): the backend every machine has, on the same code path as TensorRT."""
import os

import numpy as np

from .. import deps
from ..errors import BackendError, InputError, ModelError
from .base import Backend, TensorInfo, check_input_dtype

_ORT_TYPES = {
    "tensor(float)": np.float32, "tensor(float16)": np.float16, "tensor(double)": np.float64,
    "tensor(int8)": np.int8, "tensor(uint8)": np.uint8, "tensor(int32)": np.int32, "tensor(int64)": np.int64,
}


class OnnxRuntimeBackend(Backend):
    """Run an ONNX model with ONNX Runtime on the CPU.

    threads: intra-op thread count (None: ONNX Runtime's default, all cores).
    providers: ONNX Runtime execution providers (default: CPU only).
    """

    name = "onnxruntime"

    def __init__(self, model_path, threads=None, providers=None):
        super().__init__()
        ort = deps.load("onnxruntime", "the ONNX Runtime backend")
        self.model_path = os.fspath(model_path)
        if not os.path.isfile(self.model_path):
            raise ModelError("%s: model file not found" % self.model_path)
        opts = ort.SessionOptions()
        if threads:
            opts.intra_op_num_threads = int(threads)
            opts.inter_op_num_threads = 1
        opts.log_severity_level = 3
        try:
            self._session = ort.InferenceSession(
                self.model_path, sess_options=opts, providers=providers or ["CPUExecutionProvider"])
        except Exception as e:
            raise ModelError("%s: ONNX Runtime cannot load this model (%s)" % (self.model_path, str(e).splitlines()[0]))
        self.inputs = [TensorInfo(i.name, tuple(i.shape), np.dtype(_ORT_TYPES.get(i.type, np.float32)))
                       for i in self._session.get_inputs()]
        self.outputs = [TensorInfo(o.name, tuple(o.shape), np.dtype(_ORT_TYPES.get(o.type, np.float32)))
                        for o in self._session.get_outputs()]
        self._out_names = [o.name for o in self.outputs]

    def _activate(self):
        pass

    def _infer(self, batch):
        feeds = {}
        for info in self.inputs:
            if info.name not in batch:
                raise InputError("%s: input %r missing from the batch (got %s)"
                                 % (self.model_path, info.name, sorted(batch)))
            x = np.asarray(batch[info.name])
            check_input_dtype(self.model_path, info.name, x, info.dtype)
            feeds[info.name] = np.ascontiguousarray(x, dtype=info.dtype)
        try:
            results = self._session.run(self._out_names, feeds)
        except Exception as e:
            raise BackendError("%s: inference failed (%s)" % (self.model_path, str(e).splitlines()[0]))
        return dict(zip(self._out_names, results))
