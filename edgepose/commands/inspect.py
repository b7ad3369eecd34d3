"""``edgepose inspect MODEL.onnx``: the model's inputs/outputs and which built-in profile matches."""
from ..profiles.match import guess_profiles

NAME = "inspect"
HELP = "print an ONNX model's inputs/outputs and which built-in profile matches it"


def add_arguments(p):
    p.add_argument("model", help="ONNX model file")


def run(args):
    ins, outs, fits = guess_profiles(args.model)
    print("model: %s" % args.model)
    for kind, rows in (("input", ins), ("output", outs)):
        for name, shape in rows:
            print("  %-6s %-40s %s" % (kind, name, list(shape)))
    ok = [n for n, why in fits.items() if not why]
    if ok:
        print("matching profile: %s  (use --profile %s)" % (", ".join(ok), ok[0]))
        return 0
    print("no built-in profile matches:")
    for name, why in fits.items():
        for w in why:
            print("  %s: %s" % (name, w))
    print("write your own profile YAML (see `edgepose profile show tao-bpnet` for the format)")
    return 1
