"""``edgepose bench SOURCE|--synthetic``: per-stage latency, throughput and the loop's overhead.

Measures the same model on the same frames twice: bare inference (``backend.infer`` on
preprocessed tensors, nothing else) and the whole loop (capture, preprocess, infer, decode in their
threads). ``loop overhead`` is how much longer a frame takes through the loop than through bare
inference, in % of the inference time. Also reports RSS before and after the loop (a long run with
``--frames 100000`` and a small ``--size`` shows whether memory grows). The overhead is a difference of
two timings: on a loaded machine it varies by a few % from run to run and can come out negative.
"""
import json
import logging
import time

from ..errors import UsageError
from ._common import size_type

NAME = "bench"
HELP = "benchmark the loop: per-stage latency, throughput, overhead over bare inference, RSS"
DESCRIPTION = __doc__

log = logging.getLogger(__name__)


def add_arguments(p):
    p.add_argument("source", nargs="?", help="frames to use (any `edgepose run` source); or --synthetic")
    p.add_argument("--synthetic", action="store_true", help="rendered synthetic people (edgepose.synth)")
    g = p.add_mutually_exclusive_group()
    g.add_argument("--model", help="ONNX model (default: the bundled demo model)")
    g.add_argument("--engine", help="TensorRT engine")
    p.add_argument("--profile", help="model profile (default: guessed)")
    p.add_argument("--size", type=size_type, help="network input HxW instead of the profile's")
    p.add_argument("--frames", type=int, default=200, help="frames through the loop (default 200)")
    p.add_argument("--bare-frames", type=int, default=300,
                   help="frames of bare inference (at most --frames; default 300)")
    p.add_argument("--rounds", type=int, default=3,
                   help="alternations of bare inference and loop (evens out load changes; default 3)")
    p.add_argument("--distinct", type=int, default=16, help="distinct images, cycled (default 16)")
    p.add_argument("--threads", type=int, help="ONNX Runtime threads (default: all cores but one)")
    p.add_argument("--json", action="store_true", help="print one JSON object instead of the table")


def synthetic_images(n, size=(480, 640), seed=0):
    """(images, note): rendered scenes from edgepose.synth."""
    from ..synth import render_scene

    return [render_scene(seed + i, size=size).image for i in range(n)], "synthetic scenes (edgepose.synth)"


def source_images(uri, n):
    from ..sources import open_source

    src = open_source(uri)
    imgs = []
    try:
        while len(imgs) < n:
            f = src.read(timeout=10.0)
            if f is None:
                break
            imgs.append(f.image)
    finally:
        src.close()
    if not imgs:
        raise UsageError("%s: no frames could be read for the benchmark" % uri)
    return imgs, "%d frames of %s" % (len(imgs), uri)


def _cpu():
    import os

    t = os.times()
    return t.user + t.system


def _bare(backend, name, tensors, n):
    t0 = time.perf_counter()
    for i in range(n):
        backend.infer({name: tensors[i % len(tensors)]})
    return time.perf_counter() - t0


def measure(images, backend, profile, frames, bare_frames, rounds=3, decoder=None):
    """The benchmark numbers as a dict (see the module doc).

    ``rounds`` alternations of bare inference and the loop share the frames, so that a change of load
    on the machine during the run affects both sides alike. Loop time is its steady state: from its
    first result to its last (filling the pipeline is latency, not throughput).
    """
    from ..pipeline import Pipeline
    from ..preprocess import preprocess
    from ..sources import ArraySource
    from ..stats import limit_blas_threads, rss_bytes

    limit_blas_threads(1)   # as the loop does; bare inference and the loop see the same process
    name = profile.input.name
    tensors = [preprocess(im, profile)[0] for im in images]
    rounds = max(1, min(rounds, frames // 10 or 1))
    loop_n = max(2, frames // rounds)
    bare_n = max(1, min(bare_frames, frames) // rounds)
    bare_t = loop_t = bare_cpu = loop_cpu = 0.0
    loop_steps = 0
    marks = {}
    warm = min(max(20, loop_n // 10), loop_n - 1)
    rss0 = None
    trace = []
    trace_at = set(int(loop_n * k / 10) for k in range(1, 10)) | {loop_n - 1}
    for rnd in range(rounds):
        backend.activate()
        for t in tensors[:2]:
            backend.infer({name: t})                     # warm-up (and re-activation after the loop)
        c0 = _cpu()
        bare_t += _bare(backend, name, tensors, bare_n)
        bare_cpu += _cpu() - c0
        times = [None, None, 0]   # first result, last result, count (no per-frame list: RSS is measured)

        def on_result(r, first=(rnd == rounds - 1), times=times):
            now = time.perf_counter()
            if times[0] is None:
                times[0] = now
            times[1] = now
            times[2] += 1
            if first and r.frame.index == warm:
                marks["rss_warm"] = rss_bytes()
            if first and r.frame.index in trace_at:
                trace.append((r.frame.index, round(rss_bytes() / 2 ** 20, 2)))

        if rnd == rounds - 1:      # memory is measured over the last round's loop (one pipeline's life)
            rss0 = rss_bytes()
        pipe = Pipeline(ArraySource(images, count=loop_n), backend=backend, profile=profile, decoder=decoder,
                        on_result=on_result, stats_interval=30.0)
        c0 = _cpu()
        pipe.run()
        loop_cpu += _cpu() - c0
        loop_t += times[1] - times[0]
        loop_steps += times[2] - 1
        last = pipe.stats
    rss1 = rss_bytes()
    backend.deactivate()
    infer_pf = bare_t / (bare_n * rounds)
    loop_pf = loop_t / loop_steps
    snap = last.snapshot()
    lat = snap["latency"]
    stage_meds = {k: v["median_ms"] for k, v in lat.items() if k not in ("total", "capture")}
    return {
        "frames": loop_n * rounds, "bare_frames": bare_n * rounds, "rounds": rounds,
        "infer_ms_per_frame": round(infer_pf * 1e3, 3), "loop_ms_per_frame": round(loop_pf * 1e3, 3),
        "bare_fps": round(1.0 / infer_pf, 2), "loop_fps": round(1.0 / loop_pf, 2),
        "loop_overhead_percent": round(100.0 * (loop_pf - infer_pf) / infer_pf, 2),
        "bare_cpu_ms_per_frame": round(bare_cpu / (bare_n * rounds) * 1e3, 3),
        "loop_cpu_ms_per_frame": round(loop_cpu / (loop_n * rounds) * 1e3, 3),
        "bottleneck": max(stage_meds, key=stage_meds.get) if stage_meds else None,
        "latency": lat, "people_per_frame": snap["people_per_frame"], "cpu_percent": snap["cpu_percent"],
        "rss_before_mb": round(rss0 / 2 ** 20, 2), "rss_after_warmup_mb": round(marks.get("rss_warm", rss0) / 2 ** 20, 2),
        "rss_after_mb": round(rss1 / 2 ** 20, 2),
        "rss_trace_mb": trace,
        "rss_growth_mb": round((rss1 - marks.get("rss_warm", rss0)) / 2 ** 20, 2),
    }


def run(args):
    from ..backends import open_backend
    from ..profiles import resolve_model
    from ..stats import default_threads

    if bool(args.source) == bool(args.synthetic):
        raise UsageError("give a SOURCE or --synthetic (one of them)")
    if args.frames < 2:
        raise UsageError("--frames must be at least 2")
    path, profile = resolve_model(args.model, args.engine, args.profile, args.size,
                                  inputs=[args.source] if args.source else None)
    distinct = max(1, min(args.distinct, args.frames))
    if args.synthetic:
        images, note = synthetic_images(distinct)
    else:
        images, note = source_images(args.source, distinct)
    backend = open_backend(path, profile=profile, threads=default_threads(args.threads))
    res = measure(images, backend, profile, args.frames, args.bare_frames, rounds=args.rounds)
    res.update({"model": path, "backend": backend.name, "profile": profile.name,
                "input_size": list(profile.input.size), "frames_from": note})
    if args.json:
        print(json.dumps(res, indent=2))
        return 0
    print("model: %s (%s, profile %s, input %dx%d)" % (path, backend.name, profile.name, *profile.input.size))
    print("frames: %s; %d through the loop, %d bare, in %d alternating rounds"
          % (note, res["frames"], res["bare_frames"], res["rounds"]))
    print("%-12s %10s %10s" % ("stage", "median ms", "p90 ms"))
    for k, v in res["latency"].items():
        print("%-12s %10.2f %10.2f" % (k, v["median_ms"], v["p90_ms"]))
    print("bare inference: %.2f ms/frame (%.1f fps)" % (res["infer_ms_per_frame"], res["bare_fps"]))
    print("whole loop:     %.2f ms/frame (%.1f fps), %.2f people/frame, cpu %.0f%%, bottleneck: %s"
          % (res["loop_ms_per_frame"], res["loop_fps"], res["people_per_frame"], res["cpu_percent"], res["bottleneck"]))
    print("cpu time:       %.2f ms/frame bare, %.2f ms/frame in the loop (all threads)"
          % (res["bare_cpu_ms_per_frame"], res["loop_cpu_ms_per_frame"]))
    print("rss: %.1f MB before, %.1f MB after warm-up, %.1f MB after (growth %+.2f MB)"
          % (res["rss_before_mb"], res["rss_after_warmup_mb"], res["rss_after_mb"], res["rss_growth_mb"]))
    if res["frames"] >= 10000:
        print("rss during the loop (frame: MB): %s" % ", ".join("%d: %.1f" % fm for fm in res["rss_trace_mb"]))
    print(overhead_line(res["loop_overhead_percent"]))
    return 0


def overhead_line(percent, noise=5.0):
    """'loop overhead: 3.1%', with a word when the figure is within the run-to-run noise or negative (the
    loop cannot be faster than bare inference: a negative figure means the load changed between them)."""
    line = "loop overhead: %.1f%%" % percent
    if percent < -noise:
        return line + (" (negative: bare inference and the loop ran under different load, so this run cannot "
                       "measure the overhead; rerun on a quieter machine)")
    if percent < noise:
        return line + " (within the few % of run-to-run noise: no measurable overhead)"
    return line
