"""``edgepose build MODEL.onnx --profile P --precision ...``: a TensorRT engine + JSON sidecar."""
import sys

from ._common import check_outputs, size_type

NAME = "build"
HELP = "build a TensorRT engine (fp32/fp16/int8/best) from an ONNX model, with a JSON sidecar"
DESCRIPTION = HELP + """

TensorRT 8.5/8.6/10.x: --precision sets builder flags; int8 calibrates on --calib images (the same
preprocessing as inference; the cache in --calib-cache is reused next time) or uses a Q/DQ model.
TensorRT 11.x: strongly typed; the precision comes from the ONNX (`edgepose prepare --fp16`,
`edgepose quantize`).

examples:
  edgepose build model.onnx --profile tao-bpnet --precision fp16
  edgepose build model.onnx --profile tao-bpnet --precision int8 --calib calibration/home \\
      --calib-cache calibration/home.cache
  edgepose build model.onnx --profile tao-bpnet --precision int8 --dla 0 --gpu-fallback --calib calibration/home
"""


def add_arguments(p):
    p.add_argument("model", help="ONNX model file (prepared with `edgepose prepare`)")
    p.add_argument("--profile", required=True, help="model profile (built-in name or YAML path)")
    p.add_argument("--precision", default="fp16", choices=("fp32", "fp16", "int8", "best"))
    p.add_argument("--calib", metavar="DIR", help="calibration images for int8 (implicit calibration, TRT < 11)")
    p.add_argument("--calib-cache", metavar="FILE", help="calibration cache: read if it exists, written after")
    p.add_argument("--calib-count", type=int, metavar="N", help="use at most N calibration images")
    p.add_argument("--batch", help="N or dynamic:MIN,OPT,MAX (default: the ONNX's batch, or 1)")
    p.add_argument("--size", type=size_type, help="expected input HxW (checked; change it with `edgepose prepare`)")
    p.add_argument("--workspace", type=int, default=1024, metavar="MiB", help="builder workspace (default 1024)")
    p.add_argument("--dla", type=int, metavar="CORE", help="build for DLA core CORE (Jetson Xavier/Orin)")
    p.add_argument("--gpu-fallback", action="store_true", help="with --dla: run unsupported layers on the GPU")
    p.add_argument("--timing-cache", metavar="FILE", help="TensorRT timing cache: read if it exists, written after")
    p.add_argument("--out", default="engines", metavar="DIR", help="output folder (default engines/)")


def run(args):
    from ..engine.builder import BuildOptions, build_engine
    from ..onnxprep import parse_batch

    check_outputs(args, files=["calib_cache", "timing_cache"], folders=["out"])
    argv = sys.argv[2:] if len(sys.argv) > 2 and sys.argv[1] == "build" else _reconstruct(args)
    opts = BuildOptions(precision=args.precision, batch=parse_batch(args.batch), size=args.size, calib=args.calib,
                        calib_cache=args.calib_cache, calib_count=args.calib_count, workspace_mib=args.workspace,
                        dla_core=args.dla, gpu_fallback=args.gpu_fallback, timing_cache=args.timing_cache,
                        out_dir=args.out, argv=argv)
    path, side = build_engine(args.model, args.profile, opts)
    print("engine: %s" % path)
    print("sidecar: %s.json (TensorRT %s, %s, %s, batch %s, %d s)"
          % (path, side["tensorrt_version"], side["device"]["name"], side["precision"],
             "%d..%d" % (side["batch"]["min"], side["batch"]["max"]), side["build_seconds"]))
    return 0


def _reconstruct(args):
    """The build arguments as a list (for the sidecar's rebuild command) when not run from the shell."""
    out = [args.model, "--profile", args.profile, "--precision", args.precision]
    for flag, value in (("--calib", args.calib), ("--calib-cache", args.calib_cache), ("--batch", args.batch),
                        ("--workspace", args.workspace), ("--dla", args.dla), ("--timing-cache", args.timing_cache),
                        ("--out", args.out), ("--calib-count", args.calib_count)):
        if value is not None:
            out += [flag, str(value)]
    if args.size:
        out += ["--size", "%dx%d" % tuple(args.size)]
    if args.gpu_fallback:
        out.append("--gpu-fallback")
    return out
