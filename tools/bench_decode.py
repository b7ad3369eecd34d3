"""Decode benchmark (``make bench``): time of ``PoseDecoder.decode`` per image, on ONE thread.

Map sets:

- tf-pose: the outputs of ``../shared/models/tfpose/tfpose_mobilenet_v2_small.onnx`` on the images of
  ``../shared/images`` at 432x368 (the network runs once per image; only decoding is timed);
  skipped when ``../shared`` is absent;
- TAO layout (288x384 input: heatmap 36x48x19 at stride 8, PAF 144x192x38 at stride 2) rendered
  from 1, 6 and 12 synthetic people (``edgepose.synth.figures``, ``edgepose.synth.targets``).

For comparison the same run times a naive, reference-style decoder: every map upsampled with
``cv2.resize`` (tf-pose x4; TAO heatmaps x8 and PAF x2, to input resolution), the full upsampled
heatmaps Gaussian-smoothed (sigma 3 px) and NMS by ``cv2.dilate``, then the same PAF scoring and
grouping as edgepose. The ratio column is naive / edgepose.

    python tools/bench_decode.py [--repeat 200] [--images DIR] [--model M.onnx]
"""
import os

# One thread everywhere, set before numpy (and its BLAS) is imported.
for _var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS", "VECLIB_MAXIMUM_THREADS",
             "NUMEXPR_NUM_THREADS"):
    os.environ[_var] = "1"

import argparse  # noqa: E402
import platform  # noqa: E402
import sys  # noqa: E402
import time  # noqa: E402

import numpy as np  # noqa: E402

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
if ROOT not in sys.path:
    sys.path.insert(0, ROOT)

from edgepose import deps  # noqa: E402
from edgepose.decode import PoseDecoder, assemble, extract_maps, people_from_parts  # noqa: E402
from edgepose.decode.maps import MapSet  # noqa: E402
from edgepose.decode.peaks import Peaks  # noqa: E402
from edgepose.synth.figures import crowd  # noqa: E402
from edgepose.synth.targets import render_maps  # noqa: E402
from edgepose.profiles import load_profile  # noqa: E402
from edgepose.topology import NUM_KEYPOINTS  # noqa: E402

SHARED = os.path.normpath(os.path.join(ROOT, "..", "shared"))
TFPOSE_MODEL = os.path.join(SHARED, "models", "tfpose", "tfpose_mobilenet_v2_small.onnx")
IMAGES = os.path.join(SHARED, "images")


class NaiveDecoder:
    """Reference-style decoding: upsample the full maps, smooth, NMS at high resolution, then group.

    heat_up / paf_up: upsampling factors of the heatmap and PAF; sigma: Gaussian sigma in
    upsampled pixels. Grouping (PAF scoring, assignment, assembly) is edgepose's own.
    """

    def __init__(self, profile, heat_up, paf_up, sigma=3.0):
        cv2 = deps.load("cv2", "tools/bench_decode.py")
        cv2.setNumThreads(1)
        self.cv2 = cv2
        self.profile = profile
        self.dec = PoseDecoder(profile)
        self.heat_up, self.paf_up, self.sigma = heat_up, paf_up, sigma
        self.kernel = np.ones((3, 3), np.uint8)

    def decode(self, outputs):
        cv2, prof, p = self.cv2, self.profile, self.dec.params
        maps = extract_maps(outputs, prof)
        c, h, w = maps.heat.shape
        f = self.heat_up
        heat = cv2.resize(np.ascontiguousarray(maps.heat.transpose(1, 2, 0)), (w * f, h * f),
                          interpolation=cv2.INTER_CUBIC)
        smooth = cv2.GaussianBlur(heat, (0, 0), self.sigma)
        peak = (smooth == cv2.dilate(smooth, self.kernel)) & (smooth > p.peak_threshold)
        y, x, part = np.nonzero(peak)
        order = np.argsort(part, kind="stable")
        y, x, part = y[order], x[order], part[order]
        s = maps.heat_stride / float(f)
        xy = np.stack([(x + 0.5) * s - 0.5, (y + 0.5) * s - 0.5], axis=1).astype(np.float32)
        count = np.bincount(part, minlength=NUM_KEYPOINTS)
        peaks = Peaks(xy, heat[y, x, part].astype(np.float32), part, np.cumsum(count) - count, count)

        # the PAF, upsampled to the same resolution, channels last
        hp, wp = maps.paf_shape
        sy, sx, sc = maps.paf_strides
        n_ch = maps.paf.size // (hp * wp)
        paf = maps.paf.reshape(hp, wp, n_ch) if sc == 1 else maps.paf.reshape(n_ch, hp, wp).transpose(1, 2, 0)
        g = self.paf_up
        paf = cv2.resize(np.ascontiguousarray(paf), (wp * g, hp * g), interpolation=cv2.INTER_CUBIC)
        up = MapSet(None, maps.heat_stride, paf.reshape(-1), (hp * g, wp * g), (wp * g * n_ch, n_ch, 1),
                    maps.paf_stride / float(g), maps.input_size)
        cands = self.dec.scorer.score(peaks, up)
        found = assemble(peaks, cands, self.dec.limb_parts, self.dec.seedless, p.min_parts, p.min_person_score)
        return people_from_parts(peaks, found)


def time_decode(fn, outputs, repeat):
    """Per-call wall-clock and CPU seconds of ``fn(outputs)`` (after two warm-up calls): ``(2, repeat)``.

    The CPU time of the thread is what the decoder costs; on a busy machine the wall clock also
    counts the time other processes held the CPU.
    """
    fn(outputs)
    fn(outputs)
    times = np.empty((2, repeat))
    for i in range(repeat):
        c0 = time.thread_time()
        t0 = time.perf_counter()
        fn(outputs)
        times[0, i] = time.perf_counter() - t0
        times[1, i] = time.thread_time() - c0
    return times


def tfpose_map_sets(images_dir, model, limit=None):
    """``[(image name, outputs)]`` for the shared images, or None when they are absent."""
    if not (os.path.isdir(images_dir) and os.path.isfile(model)):
        return None
    from edgepose.backends import open_backend
    from edgepose.preprocess import preprocess
    from edgepose.sources.images import list_images, load_image

    prof = load_profile("tf-pose")
    sets = []
    with open_backend(model, prof, threads=1) as backend:
        for path in list_images(images_dir)[:limit]:
            name = os.path.basename(path)
            image = load_image(path)
            if image is None:
                continue
            tensor, _ = preprocess(image, prof)
            outs = backend.infer({prof.input.name: tensor})
            sets.append((name, {k: np.array(v) for k, v in outs.items()}))
    return sets


def _row(label, people, ours, naive):
    """One table row: wall median/p90 and CPU median of edgepose, then of the naive decoder."""
    def stats(t):
        return (np.median(t[0]) * 1e3, np.percentile(t[0], 90) * 1e3, np.median(t[1]) * 1e3)

    m, p90, cpu = stats(ours)
    text = "%-46s %8s %8.3f %8.3f %8.3f" % (label, people, m, p90, cpu)
    if naive is None:
        return text + " %9s %9s %9s %6s" % ("-", "-", "-", "-")
    nm, np90, ncpu = stats(naive)
    return text + " %9.2f %9.2f %9.2f %5.0fx" % (nm, np90, ncpu, ncpu / cpu)


def main(argv=None):
    ap = argparse.ArgumentParser(description="decode benchmark, one thread")
    ap.add_argument("--repeat", type=int, default=200, help="timed calls per map set for edgepose (default 200)")
    ap.add_argument("--naive-repeat", type=int, default=20, help="timed calls per map set for the naive decoder")
    ap.add_argument("--images", default=IMAGES, help="images for the tf-pose map set (default ../shared/images)")
    ap.add_argument("--model", default=TFPOSE_MODEL, help="the tf-pose ONNX model")
    ap.add_argument("--no-naive", action="store_true", help="skip the naive reference-style decoder")
    args = ap.parse_args(argv)

    cv2 = deps.load("cv2", "tools/bench_decode.py")
    print("decode benchmark: one thread; numpy %s, OpenCV %s, Python %s, %s" % (
        np.__version__, cv2.__version__, platform.python_version(), platform.processor() or platform.machine()))
    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
    print("ms per image: wall-clock median and p90 over all timed calls, and the median CPU time of the thread "
          "(what decoding costs when other processes share the CPUs; load average now %.1f on %d CPUs)"
          % (load, os.cpu_count() or 0))
    print("people: found by edgepose (by the naive decoder); ratio: naive / edgepose CPU time")
    head = "%-46s %8s %8s %8s %8s %9s %9s %9s %6s" % (
        "map set", "people", "median", "p90", "cpu med", "naive med", "naive p90", "naive cpu", "ratio")
    print(head)
    print("-" * len(head))

    # (a) tf-pose maps of the shared images
    sets = tfpose_map_sets(args.images, args.model)
    if sets is None:
        print("%-44s skipped: %s or %s not found" % ("tf-pose 432x368, shared images", args.images, args.model))
    else:
        prof = load_profile("tf-pose")
        dec = PoseDecoder(prof)
        naive = None if args.no_naive else NaiveDecoder(prof, heat_up=4, paf_up=4, sigma=3.0)
        all_ours, all_naive, n_ours, n_naive = [], [], 0, 0
        for name, outs in sets:
            all_ours.append(time_decode(dec.decode, outs, args.repeat))
            n_ours += len(dec.decode(outs))
            if naive is not None:
                all_naive.append(time_decode(naive.decode, outs, args.naive_repeat))
                n_naive += len(naive.decode(outs))
        label = "tf-pose 432x368, %d shared images (46x54x57)" % len(sets)
        people = "%d (%s)" % (n_ours, n_naive if naive else "-")
        print(_row(label, people, np.concatenate(all_ours, axis=1),
                   np.concatenate(all_naive, axis=1) if naive else None))
        worst = max(range(len(sets)), key=lambda i: np.median(all_ours[i][1]))
        print(_row("  slowest image: " + sets[worst][0], "", all_ours[worst], None))

    # (b) TAO layout, synthetic people
    prof = load_profile("tao-bpnet")
    dec = PoseDecoder(prof)
    naive = None if args.no_naive else NaiveDecoder(prof, heat_up=8, paf_up=2, sigma=3.0)
    size = tuple(prof.input.size)
    for n in (1, 6, 12):
        outs = render_maps(prof, crowd(n, size, seed=n), size)
        ours = time_decode(dec.decode, outs, args.repeat)
        found = len(dec.decode(outs))
        nv = None if naive is None else time_decode(naive.decode, outs, args.naive_repeat)
        people = "%d (%s)" % (found, len(naive.decode(outs)) if naive else "-")
        label = "TAO 288x384 (36x48x19 + 144x192x38), %d %s" % (n, "person" if n == 1 else "people")
        print(_row(label, people, ours, nv))
    print("target: <= 2.0 ms median per image")
    return 0


if __name__ == "__main__":
    sys.exit(main())
