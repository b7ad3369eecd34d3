"""What an ONNX model carries, for the engine build: its inputs (shapes, types) and its precision.

Read with the ``onnx`` package where there is one, else through TensorRT's own ONNX parser (a bare Jetson
running the self-test has no ``onnx``): Q/DQ layers mean int8, half tensors fp16, a UINT8 input a model
prepared with a ``-u8`` profile.
"""
import os

from ..errors import EngineError
from .trt import Capabilities, get_logger, import_trt, parser_errors, version_string


def onnx_precision(model):
    """What the ONNX itself carries: ``"int8"`` (Q/DQ nodes), ``"fp16"`` (float16 weights) or ``"fp32"``."""
    ops = {n.op_type for n in model.graph.node}
    if {"QuantizeLinear", "DequantizeLinear"} & ops:
        return "int8"
    if any(t.data_type == 10 for t in model.graph.initializer):  # TensorProto.FLOAT16
        return "fp16"
    return "fp32"


def model_facts(onnx_path, trt=None, gpu=None):
    """``({input name: shape (dims int, or str when dynamic)}, precision kind, {input name: dtype name})`` of
    an ONNX model: read with the ``onnx`` package, or without it through TensorRT's parser (Q/DQ layers: int8;
    half tensors: fp16; the inputs' types: uint8 or float32)."""
    try:
        import onnx  # noqa: F401
    except ImportError:
        return _facts_from_parser(onnx_path, trt or import_trt(), gpu)
    from ..onnxprep import graph_io, load_model
    from ..profiles.match import input_dtypes

    model = load_model(onnx_path)
    return dict(graph_io(model)[0]), onnx_precision(model), input_dtypes(model)


def _facts_from_parser(onnx_path, trt, gpu):
    caps = Capabilities.of(trt)
    if gpu is None:
        gpu = _default_gpu()
    with gpu.current():
        builder = trt.Builder(get_logger(trt))
        flags = 1 << int(trt.NetworkDefinitionCreationFlag.EXPLICIT_BATCH) if caps.explicit_batch_flag else 0
        if caps.strongly_typed:
            flags |= 1 << int(trt.NetworkDefinitionCreationFlag.STRONGLY_TYPED)
        network = builder.create_network(flags)
        parser = trt.OnnxParser(network, get_logger(trt))
        if not parser.parse_from_file(os.path.abspath(onnx_path)):
            errors = parser_errors(parser)
            raise EngineError("TensorRT %s cannot parse %s: %s" % (version_string(trt), onnx_path,
                                                                     errors[0] if errors else "unknown parser error"))
        inputs, dtypes = {}, {}
        for i in range(network.num_inputs):
            t = network.get_input(i)
            inputs[t.name] = tuple(int(d) if int(d) >= 0 else "?" for d in t.shape)
            dtypes[t.name] = "uint8" if caps.uint8_input and t.dtype == trt.DataType.UINT8 else "float32"
        qdq = {trt.LayerType.QUANTIZE, trt.LayerType.DEQUANTIZE}
        kinds = set()
        for i in range(network.num_layers):
            layer = network.get_layer(i)
            if layer.type in qdq:
                kinds.add("int8")
            elif any(layer.get_output(k).dtype == trt.DataType.HALF for k in range(layer.num_outputs)):
                kinds.add("fp16")
    return inputs, ("int8" if "int8" in kinds else "fp16" if "fp16" in kinds else "fp32"), dtypes


def _default_gpu():
    from ..backends.cudalib import load_cuda
    from ..backends.gpubuffers import GpuDevice

    return GpuDevice.get(load_cuda(), 0)


