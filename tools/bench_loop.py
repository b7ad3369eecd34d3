"""Model and loop benchmarks for `make bench`: the model's latency, the loop's overhead over bare inference,
and RSS over a long run.

    python tools/bench_loop.py [--model M.onnx --profile P] [--long-frames 100000] [--latency-threads 1]

0. The model alone at its input size, ONNX Runtime with one intra-op thread as the demo runs it: p50/p90 wall
   clock and p50 CPU time per frame (the bundled demo model's target: <= 15 ms, so `make demo` stays real time).
1. `edgepose bench --synthetic` at the profile's size: per-stage latency table and `loop overhead: X.X%`.
2. A long synthetic run at a small input size (default 20000 frames at 64x96, or the model's own size when
   its input is fixed, as the bundled model's is; pass --long-frames 100000 for the full check) reporting
   RSS before/after (target: <= 5 MB growth).
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
    ap.add_argument("--long-frames", type=int, help="frames of the long run (default 20000; 2000 when the model "
                    "has a fixed, larger input size)")
    ap.add_argument("--long-size", default="64x96")
    ap.add_argument("--threads", type=int)
    ap.add_argument("--latency-threads", type=int, default=1, help="ONNX Runtime threads of the latency run")
    ap.add_argument("--latency-frames", type=int, default=200)
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
    model_latency(model, profile, args.latency_frames, args.latency_threads)
    print("\n== loop overhead (synthetic frames, %d frames) ==" % args.frames)
    rc = edgepose(["-q", "bench", "--synthetic", "--frames", str(args.frames), "--bare-frames", str(args.frames)] + common)
    size, note, frames = args.long_size, "", args.long_frames or 20000
    fixed = fixed_input_size(model)
    if fixed and "%dx%d" % fixed != size:
        size, note = "%dx%d" % fixed, "; the model's fixed input size: --long-size needs dynamic H, W"
        if not args.long_frames:
            frames = 2000
            note += "; fewer frames at this size, pass --long-frames N for more"
    print("\n== RSS over a long run (%d frames at %s%s) ==" % (frames, size, note))
    rc |= edgepose(["-q", "bench", "--synthetic", "--frames", str(frames), "--bare-frames", "200",
                    "--rounds", "1", "--size", size] + common)
    return rc


def model_latency(model, profile, frames, threads):
    """Print the model's per-frame latency at its input size (see the module doc, item 0)."""
    import time

    import numpy as np

    from edgepose.backends import open_backend
    from edgepose.profiles import resolve_model

    model, prof = resolve_model(model, profile=profile)
    h, w = prof.input.size
    shape = (1, h, w, 3) if prof.input.layout == "NHWC" else (1, 3, h, w)
    x = np.random.default_rng(0).uniform(0, 255, shape)
    if getattr(prof.input, "dtype", "float32") == "uint8":
        x = x.astype(np.uint8)
    else:
        x = (x * prof.input.scale + prof.input.offset).astype(np.float32)
    wall, cpu = [], []
    with open_backend(model, profile=prof, threads=threads) as be:
        for i in range(frames + 10):
            t, c = time.perf_counter(), time.thread_time()
            be.infer({prof.input.name: x})
            if i >= 10:  # warm-up frames not counted
                wall.append(time.perf_counter() - t)
                cpu.append(time.thread_time() - c)
    wall, cpu = 1000 * np.array(wall), 1000 * np.array(cpu)
    print("== model latency: %s at %dx%d, ONNX Runtime, %d thread(s), %d frames ==" % (
        os.path.basename(model), h, w, threads, frames))
    print("wall clock per frame: p50 %.1f ms, p90 %.1f ms, min %.1f ms; CPU time per frame p50 %.1f ms" % (
        np.median(wall), np.percentile(wall, 90), wall.min(), np.median(cpu)))


def fixed_input_size(model):
    """(H, W) when the model's image input has fixed height and width, else None."""
    from edgepose.profiles.match import read_io

    for _, shape in read_io(model)[0]:
        if len(shape) == 4 and all(isinstance(d, int) for d in shape[1:]):
            return tuple(shape[1:3]) if shape[3] == 3 else tuple(shape[2:4])
    return None


if __name__ == "__main__":
    sys.exit(main())
