"""``edgepose prepare MODEL.onnx --profile P``: fix batch and size, fold, check against the profile, verify."""
from ._common import check_outputs, size_type

NAME = "prepare"
HELP = "prepare an ONNX model for TensorRT: batch, input size, constant folding, profile check, ORT verification"
DESCRIPTION = HELP + """

examples:
  edgepose prepare model.onnx --profile tao-bpnet --size 288x384 --batch 1 --out model.prep.onnx
  edgepose prepare model.onnx --profile tao-bpnet --batch dynamic:1,2,4 --out model.dyn.onnx
  edgepose prepare model.onnx --profile tao-bpnet --fp16 --out model.fp16.onnx   # TensorRT 11 fp16 builds
  edgepose prepare model.onnx --profile tao-bpnet-paf8 --out model.paf8.onnx   # cut the x4 PAF upsampling
  edgepose prepare model.onnx --profile tao-bpnet-u8 --out model.u8.onnx       # + uint8 BGR frames in, normalised
                                                                               #   on the GPU (TensorRT 8.5.1+)
"""


def add_arguments(p):
    p.add_argument("model", help="ONNX model file")
    p.add_argument("--profile", required=True,
                   help="model profile (built-in name or YAML path); a -u8 profile (input.dtype: uint8) makes the "
                        "model take uint8 NHWC BGR frames and normalise them itself")
    p.add_argument("--size", type=size_type, help="network input HxW (multiples of the strides); default: the profile's")
    p.add_argument("--batch", default="1", help="N, or dynamic:MIN,OPT,MAX (default 1)")
    p.add_argument("--fp16", action="store_true", help="float16 weights and activations (I/O stays float32)")
    p.add_argument("--no-verify", action="store_true", help="skip the ONNX Runtime comparison")
    p.add_argument("--out", required=True, help="prepared ONNX file to write")


def run(args):
    from ..onnxprep import parse_batch, prepare

    check_outputs(args, files=["out"])
    rep = prepare(args.model, args.out, args.profile, size=args.size, batch=parse_batch(args.batch),
                  fp16=args.fp16, check=not args.no_verify)
    print("prepared %s -> %s (%d -> %d nodes, batch %s, %dx%d%s)"
          % (args.model, rep["out"], rep["nodes_before"], rep["nodes_after"], rep["batch"],
             rep["size"][0], rep["size"][1], ", float16" if rep["fp16"] else ""))
    for kind, rows in (("input", rep["inputs"]), ("output", rep["outputs"])):
        for name, shape in rows:
            print("  %-6s %-40s %s%s" % (kind, name, list(shape),
                                         "  uint8 BGR frames, normalised in the graph" if kind == "input" and
                                         rep.get("uint8_input") else ""))
    diffs = rep["max_abs_diff"]
    if diffs is None:
        print("verification: skipped (the original does not run at this size on ONNX Runtime)"
              if not args.no_verify else "verification: skipped (--no-verify)")
    else:
        for name, d in diffs.items():
            print("  max abs diff vs original  %-40s %.3g" % (name, d))
    return 0
