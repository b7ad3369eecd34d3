"""Model latency for `make bench`: the bundled demo model (or --model) at its input size, ONNX Runtime on the
CPU with one intra-op thread, as the demo runs it. Prints p50/p90 wall clock and p50 CPU time per frame
(the demo model's target: <= 15 ms per frame, so that `make demo` stays real time on one core).

    python tools/bench_model.py [--model M.onnx --profile P] [--frames 200] [--threads 1]
"""
import argparse
import os
import sys
import time

import numpy as np

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)

from edgepose.backends import open_backend  # noqa: E402
from edgepose.profiles import resolve_model  # noqa: E402


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--model")
    ap.add_argument("--profile")
    ap.add_argument("--frames", type=int, default=200)
    ap.add_argument("--threads", type=int, default=1)
    args = ap.parse_args(argv)
    model, prof = resolve_model(args.model, profile=args.profile)
    h, w = prof.input.size
    shape = (1, h, w, 3) if prof.input.layout == "NHWC" else (1, 3, h, w)
    dtype = np.uint8 if getattr(prof.input, "dtype", "float32") == "uint8" else np.float32
    x = (np.random.default_rng(0).uniform(0, 255, shape)).astype(dtype)
    if dtype == np.float32:
        x = x * np.float32(prof.input.scale) + np.float32(prof.input.offset)
    wall, cpu = [], []
    with open_backend(model, profile=prof, threads=args.threads) as be:
        for i in range(args.frames + 10):
            t, c = time.perf_counter(), time.thread_time()
            be.infer({prof.input.name: x})
            if i >= 10:  # warm-up frames not counted
                wall.append(time.perf_counter() - t)
                cpu.append(time.thread_time() - c)
    wall, cpu = 1000 * np.array(wall), 1000 * np.array(cpu)
    print("== model latency: %s at %dx%d, ONNX Runtime, %d thread(s), %d frames ==" % (
        os.path.basename(model), h, w, args.threads, args.frames))
    print("wall clock per frame: p50 %.1f ms, p90 %.1f ms, min %.1f ms; CPU time per frame p50 %.1f ms" % (
        np.median(wall), np.percentile(wall, 90), wall.min(), np.median(cpu)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
