"""``edgepose inspect MODEL.onnx``: the model's inputs/outputs and which built-in profile matches."""
import json

from ..profiles.match import guess_profiles

NAME = "inspect"
HELP = "print an ONNX model's inputs/outputs and which built-in profile matches it"
DESCRIPTION = HELP + """

Exit code 0 when a built-in profile matches, 1 when none does (then each profile's reasons are
listed). --json prints one object: {"model", "inputs", "outputs", "matching", "mismatches"}."""


def add_arguments(p):
    p.add_argument("model", help="ONNX model file")
    p.add_argument("--json", action="store_true", help="print one JSON object instead of the text")


def run(args):
    ins, outs, fits = guess_profiles(args.model)
    ok = [n for n, why in fits.items() if not why]
    if args.json:
        print(json.dumps({
            "model": args.model,
            "inputs": [{"name": n, "shape": list(s)} for n, s in ins],
            "outputs": [{"name": n, "shape": list(s)} for n, s in outs],
            "matching": ok, "mismatches": {n: why for n, why in fits.items() if why}}, indent=1))
        return 0 if ok else 1
    print("model: %s" % args.model)
    for kind, rows in (("input", ins), ("output", outs)):
        for name, shape in rows:
            print("  %-6s %-40s %s" % (kind, name, list(shape)))
    if ok:
        print("matching profile: %s  (use --profile %s)" % (", ".join(ok), ok[0]))
        return 0
    print("no built-in profile matches:")
    for name, why in fits.items():
        for w in why:
            print("  %s: %s" % (name, w))
    print("write your own profile YAML (see `edgepose profile show tao-bpnet` for the format)")
    return 1
