"""Host-side per-frame work of the GPU path (``make bench``), side by side in one run, one thread:

1. preprocessing of a 1080p BGR frame into the tao-bpnet 288x384 input, written into a preallocated
   buffer as the engine's lent pinned input is, against a bare ``cv2.resize`` of the same frame to the
   letterboxed size (384x216), timed in rotating blocks: the float path (profile ``tao-bpnet-paf8``:
   letterbox, BGR->RGB, scale/offset, float32 NHWC) and the uint8 path (``tao-bpnet-u8``: resize +
   letterbox into a uint8 buffer; the graph normalises on the GPU). Target: the path a tao-bpnet
   deployment uses (uint8) <= 1.5x the bare resize. Host->device bytes per frame of each input;
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


PATHS = (("float32", "tao-bpnet-paf8"), ("uint8", "tao-bpnet-u8"))


def bench_preprocess(blocks, per_block):
    """``({name: median ms}, letterboxed size, {path: H2D bytes per frame})`` for the bare resize and each path."""
    cv2 = deps.load("cv2", "tools/bench_host.py")
    cv2.setNumThreads(1)
    img = frame_1080p()
    fns, h2d, size = {}, {}, None
    for path, name in PATHS:
        profile = load_profile(name)
        h, w = profile.input.size
        out = np.empty((1, h, w, 3), np.dtype(profile.input.dtype))
        _, tf = preprocess(img, profile, out=out)
        size = (int(round(tf.src_w * tf.scale_x)), int(round(tf.src_h * tf.scale_y)))
        fns[path] = lambda profile=profile, out=out: preprocess(img, profile, out=out)
        h2d[path] = out.nbytes
    fns = dict([("resize", lambda: cv2.resize(img, size, interpolation=cv2.INTER_LINEAR))] + list(fns.items()))
    names = list(fns)
    times = {k: [] for k in names}
    for b in range(blocks + 2):
        order = names[b % len(names):] + names[:b % len(names)]      # rotate: no path always runs first
        for name in order:
            fn = fns[name]
            for _ in range(per_block):
                t0 = time.perf_counter()
                fn()
                if b >= 2:
                    times[name].append(time.perf_counter() - t0)
    return {k: float(np.median(v)) * 1e3 for k, v in times.items()}, size, h2d


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
    ms, size, h2d = bench_preprocess(args.blocks, args.per_block)
    print("\n== preprocessing, 1080p BGR -> tao-bpnet 288x384 (1 thread, medians of %d rotating blocks of %d) =="
          % (args.blocks, args.per_block))
    print("  %-44s %7.3f ms" % ("bare cv2.resize to %dx%d" % size, ms["resize"]))
    for path, name in PATHS:
        ratio = ms[path] / ms["resize"]
        verdict = ""
        if path == "uint8":
            ok &= ratio <= PRE_TARGET
            verdict = "   target <= %.1fx: %s" % (PRE_TARGET, "met" if ratio <= PRE_TARGET else "MISSED")
        print("  %-44s %7.3f ms  %.2fx  H2D %5.1f KB/frame%s" % (
            "%s path (profile %s)" % (path, name), ms[path], ratio, h2d[path] / 1e3, verdict))
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
