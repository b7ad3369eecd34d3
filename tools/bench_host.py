"""Host-side per-frame work of the GPU path (``make bench``), side by side in one run, one thread:

1. preprocessing: ``edgepose.preprocess.preprocess`` of a 1080p BGR frame into the tao-bpnet 288x384
   input (letterbox, BGR->RGB, scale/offset, float32 NHWC, written into a preallocated buffer as the
   engine's lent pinned input is) against a bare ``cv2.resize`` of the same frame to the letterboxed
   size (384x216), timed in alternating blocks; target: ratio <= 1.5;
2. device->host bytes per frame of a tao-bpnet 288x384 engine: the outputs of the graph prepared with
   ``tao-bpnet`` (PAF upsampled x4 in the graph, stride 2) and with ``tao-bpnet-paf8`` (the upsampling
   cut, stride 8), float32 as ``edgepose build`` keeps them: what ``TensorRTBackend.d2h_bytes`` counts
   for an engine built from each. The model is the bundled demo model (TAO's I/O contract) prepared at
   288x384; target: <= 400 KB.

    python tools/bench_host.py [--blocks 30] [--per-block 40]
"""
import os

for _var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ[_var] = "1"

import argparse  # noqa: E402
import platform  # noqa: E402
import sys  # noqa: E402
import tempfile  # noqa: E402
import time  # noqa: E402

import numpy as np  # noqa: E402

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
if ROOT not in sys.path:
    sys.path.insert(0, ROOT)

from edgepose import deps  # noqa: E402
from edgepose.models import bundled_model  # noqa: E402
from edgepose.onnxprep import graph_io, prepare  # noqa: E402
from edgepose.preprocess import preprocess  # noqa: E402
from edgepose.profiles import load_profile  # noqa: E402

PRE_TARGET = 1.5
D2H_TARGET = 400e3


def frame_1080p(seed=0):
    cv2 = deps.load("cv2", "tools/bench_host.py")
    rng = np.random.default_rng(seed)
    return cv2.GaussianBlur(rng.integers(0, 256, (1080, 1920, 3), dtype=np.uint8), (0, 0), 3)


def bench_preprocess(blocks, per_block):
    cv2 = deps.load("cv2", "tools/bench_host.py")
    cv2.setNumThreads(1)
    profile = load_profile("tao-bpnet")
    img = frame_1080p()
    h, w = profile.input.size
    out = np.empty((1, h, w, 3), np.float32)
    _, tf = preprocess(img, profile, out=out)
    size = (int(round(tf.src_w * tf.scale_x)), int(round(tf.src_h * tf.scale_y)))
    interp = cv2.INTER_LINEAR

    def bare():
        cv2.resize(img, size, interpolation=interp)

    def ours():
        preprocess(img, profile, out=out)

    times = {"resize": [], "preprocess": []}
    for b in range(blocks + 2):
        for name, fn in (("resize", bare), ("preprocess", ours)) if b % 2 == 0 else (("preprocess", ours),
                                                                                     ("resize", bare)):
            for _ in range(per_block):
                t0 = time.perf_counter()
                fn()
                if b >= 2:
                    times[name].append(time.perf_counter() - t0)
    r, p = (float(np.median(times[k])) * 1e3 for k in ("resize", "preprocess"))
    return r, p, size


def d2h_bytes(model, profile, size):
    with tempfile.TemporaryDirectory() as tmp:
        out = os.path.join(tmp, "m.onnx")
        rep = prepare(model, out, profile, size=size, batch="1", check=False)
        return {name: int(np.prod(shape[1:])) * 4 for name, shape in rep["outputs"]}, rep["outputs"]


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--blocks", type=int, default=30)
    ap.add_argument("--per-block", type=int, default=40)
    args = ap.parse_args(argv)
    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
    print("machine: %s, %d cores, load average %.1f; numpy %s" % (platform.processor() or platform.machine(),
                                                                os.cpu_count() or 0, load, np.__version__))
    ok = True
    r, p, size = bench_preprocess(args.blocks, args.per_block)
    ratio = p / r
    ok &= ratio <= PRE_TARGET
    print("\n== preprocessing, 1080p BGR -> tao-bpnet 288x384 float32 (1 thread, medians of %d alternating blocks) =="
          % args.blocks)
    print("  bare cv2.resize to %dx%d     %.3f ms" % (size[0], size[1], r))
    print("  edgepose preprocess          %.3f ms" % p)
    print("  ratio                        %.2fx   (target <= %.1fx: %s)" % (ratio, PRE_TARGET,
                                                                            "met" if ratio <= PRE_TARGET else "MISSED"))
    model, _ = bundled_model()
    print("\n== device->host bytes per frame, tao-bpnet layout at 288x384, float32 outputs ==")
    for prof in ("tao-bpnet", "tao-bpnet-paf8"):
        per, shapes = d2h_bytes(model, prof, (288, 384))
        total = sum(per.values())
        detail = ", ".join("%s %s" % (n.split("/")[0], list(s[1:])) for n, s in shapes)
        verdict = ("target <= %.0f KB: %s" % (D2H_TARGET / 1e3, "met" if total <= D2H_TARGET else "MISSED")
                   if prof.endswith("paf8") else "the graph as exported")
        print("  %-15s %8.1f KB  (%s)  %s" % (prof, total / 1e3, detail, verdict))
        if prof.endswith("paf8"):
            ok &= total <= D2H_TARGET
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
