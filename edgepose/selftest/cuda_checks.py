"""The CUDA-only items of the device self-test (no TensorRT): they exercise ``backends.gpubuffers`` —
the very buffer code the TensorRT backend runs on — with pycuda and with cuda-python.

Items per library: ``device``, ``context.primary``, ``buffers.roundtrip``, ``buffers.pinned``,
``context.cross-thread`` (allocate on one thread, free on another, x5, free memory must not drift),
``buffers.two-sets`` (two backends' buffer sets used at once from two threads), ``threads.concurrent``
(4 threads x 50 round trips), ``copy.p50`` (H2D of a 288x384 input + D2H of stride-8 maps). With both
libraries installed: ``coexist`` (they share the one primary context).

cuda-python, where installed, is also the probe that looks at driver state pycuda cannot show (the
context current on a thread, whether host memory is page-locked).
"""
import statistics
import threading
import time

import numpy as np

from ..backends.cudalib import LIBRARIES, load_cuda
from ..backends.gpubuffers import BufferSet, GpuDevice
from ..errors import DependencyError
from . import Skip

MIB = 1 << 20
ROUNDS = 5
DRIFT_LIMIT = 32 * MIB        # half of what one round allocates on the device


def run_all(report, libs, index=0):
    loaded = {}
    for name in libs:
        lib = _load(report, name)
        if lib is None:
            continue
        try:
            dev = GpuDevice.get(lib, index)
        except Exception as e:
            report.add("FAIL", name, "device", "%s: %s" % (type(e).__name__, e))
            continue
        loaded[name] = dev
        report.add("PASS", name, "device", "%s; free %.0f / %.0f MiB" % (
            (dev.describe(),) + tuple(v / MIB for v in dev.mem_get_info())))
        probe = _probe(index)
        report.run(name, "context.primary", check_primary_context, dev, probe)
        report.run(name, "buffers.roundtrip", check_roundtrip, dev)
        report.run(name, "buffers.pinned", check_pinned, dev, probe)
        report.run(name, "context.cross-thread", check_cross_thread, dev, probe)
        report.run(name, "buffers.two-sets", check_two_sets, dev)
        report.run(name, "threads.concurrent", check_threads, dev)
        report.run(name, "copy.p50", check_copy_timing, dev)
    if len(loaded) == 2:
        report.run("both", "coexist", check_coexist, loaded["pycuda"], loaded["cuda-python"])
    return loaded


def _load(report, name):
    """The adapter, or None after a SKIP (not installed / no GPU here) or FAIL (GPU present, library broken)."""
    from ..engine.trt import has_cuda_device

    try:
        return load_cuda(name)
    except DependencyError as e:
        msg = str(e)
        if "No module named" in msg:
            report.add("SKIP", name, "library", "not installed (%s)" % msg.split(": ", 1)[0])
        elif not has_cuda_device():
            report.add("SKIP", name, "library", "no NVIDIA GPU/driver on this machine (%s)" % msg[:160])
        else:
            report.add("FAIL", name, "library", msg)
        return None


def _probe(index):
    """A cuda-python GpuDevice to inspect driver state, or None."""
    try:
        return GpuDevice.get(load_cuda("cuda-python"), index)
    except Exception:
        return None


def _in_thread(fn, *args):
    """Run ``fn(*args)`` on a new thread; return its result or re-raise its exception here."""
    out = {}

    def body():
        try:
            out["value"] = fn(*args)
        except BaseException as e:     # handed back to the caller
            out["error"] = e

    t = threading.Thread(target=body, name="selftest-" + getattr(fn, "__name__", "fn"))
    t.start()
    t.join()
    if "error" in out:
        raise out["error"]
    return out.get("value")


def _fill(rng, view):
    if view.dtype.kind == "f":
        view[...] = rng.standard_normal(view.shape).astype(view.dtype)
    else:
        info = np.iinfo(view.dtype)
        view[...] = rng.integers(info.min, info.max, view.shape, dtype=view.dtype, endpoint=True)
    return view.copy()


def _roundtrip(bufs, rng, shapes=None):
    """Random data -> pinned -> device, pinned zeroed, device -> pinned; raise on any difference."""
    shapes = shapes or {n: b.max_shape for n, b in bufs.buffers.items()}
    with bufs.device.current():
        sent = {n: _fill(rng, bufs.host(n, s)) for n, s in shapes.items()}
        for n, s in shapes.items():
            bufs.upload(n, s)
        bufs.sync()
        for n, s in shapes.items():
            bufs.host(n, s)[...] = 0
        got = {n: bufs.download(n, s) for n, s in shapes.items()}
        bufs.sync()
    for n in shapes:
        if not np.array_equal(got[n], sent[n]):
            bad = int(np.count_nonzero(got[n] != sent[n]))
            raise AssertionError("tensor %s: %d of %d elements differ after H2D+D2H" % (n, bad, sent[n].size))


SPECS = {"input": (np.float32, (2, 288, 384, 3)), "heatmap": (np.float16, (2, 36, 48, 19)),
         "bytes": (np.uint8, (1001,)), "ids": (np.int32, (7, 5))}


def check_primary_context(dev, probe):
    if probe is None:
        with dev.current():
            dev.lib.mem_get_info()
        raise Skip("push/pop worked; cuda-python is needed to see which context is current")
    want = probe.lib.context_handle(probe._ctx)
    mine = dev.lib.context_handle(dev._ctx)
    before = probe.lib.current_handle()
    with dev.current():
        inside = probe.lib.current_handle()
    after = probe.lib.current_handle()
    if mine is not None and mine != want:
        raise AssertionError("%s holds context %#x, the device's primary context is %#x" % (dev.lib.name, mine, want))
    if inside != want:
        raise AssertionError("inside current() the thread's context is %#x, not the primary %#x" % (inside, want))
    if after != before:
        raise AssertionError("after current() the thread's context is %#x, was %#x (push/pop unbalanced)"
                             % (after, before))
    return "primary context %#x current inside, %s outside" % (want, "none" if not after else "%#x" % after)


def check_roundtrip(dev):
    rng = np.random.default_rng(1)
    bufs = BufferSet(dev, SPECS)
    try:
        _roundtrip(bufs, rng)
        # a smaller batch than the buffers were sized for, as a dynamic-batch engine uses them
        _roundtrip(bufs, rng, {"input": (1, 288, 384, 3), "heatmap": (1, 36, 48, 19)})
        total = bufs.nbytes
    finally:
        bufs.free()
    return "%d tensors (float32, float16, uint8, int32), %.2f MiB each way, full and batch-1, bit-exact" % (
        len(SPECS), total / MIB)


def check_pinned(dev, probe):
    if probe is None:
        raise Skip("cuda-python is needed to ask the driver whether host memory is page-locked")
    bufs = BufferSet(dev, SPECS)
    try:
        with probe.current():
            pinned = {n: probe.lib.is_pinned(b.host_flat.ctypes.data) for n, b in bufs.buffers.items()}
            pageable = probe.lib.is_pinned(np.empty(4096, np.uint8).ctypes.data)
    finally:
        bufs.free()
    bad = [n for n, ok in pinned.items() if not ok]
    if bad:
        raise AssertionError("host buffers %s are not page-locked (cuMemHostGetFlags refused them)" % bad)
    if pageable:
        raise AssertionError("the driver calls an ordinary numpy array page-locked: this probe cannot tell")
    return "%d host buffers page-locked (cuMemHostGetFlags), an ordinary numpy array is not" % len(pinned)


def _big_specs():
    return {"input": (np.float32, (4, 288, 384, 3)), "scratch": (np.uint8, (64 * MIB,))}


def check_cross_thread(dev, probe):
    """Allocate (activate) on one thread, free (deactivate) on another, ROUNDS times."""
    rng = np.random.default_rng(2)
    specs = _big_specs()

    def activate():
        bufs = BufferSet(dev, specs)
        _roundtrip(bufs, rng, {"input": (4, 288, 384, 3)})
        return bufs, (probe.lib.current_handle() if probe else None)

    def deactivate(bufs):
        bufs.free()
        return probe.lib.current_handle() if probe else None

    bufs, _ = _in_thread(activate)          # warm-up: the first allocations may grow the context's pools
    _in_thread(deactivate, bufs)
    base = dev.mem_get_info()[0]
    drifts, leftovers = [], []
    for _ in range(ROUNDS):
        bufs, cur_a = _in_thread(activate)
        cur_b = _in_thread(deactivate, bufs)
        leftovers += [c for c in (cur_a, cur_b) if c]
        drifts.append(base - dev.mem_get_info()[0])
    if leftovers:
        raise AssertionError("a context stayed current on a worker thread after activate/deactivate: %s"
                             % ["%#x" % c for c in leftovers])
    worst = max(drifts)
    detail = "%d rounds of %.0f MiB device + pinned; free-memory drift per round %s MiB (limit %.0f)" % (
        ROUNDS, (4 * 288 * 384 * 3 * 4 + 64 * MIB) / MIB, ", ".join("%.1f" % (d / MIB) for d in drifts),
        DRIFT_LIMIT / MIB)
    if worst > DRIFT_LIMIT:
        raise AssertionError(detail)
    return detail + ("" if probe else "; (no cuda-python: thread context state not inspected)")


def check_two_sets(dev):
    """Two backends' buffer sets alive at once (a model swap), used from two threads at the same time."""
    base = dev.mem_get_info()[0]
    specs = dict(SPECS, scratch=(np.uint8, (48 * MIB,)))      # large enough that a set not freed shows
    shapes = {n: s for n, (_, s) in SPECS.items()}
    sets = [BufferSet(dev, specs), BufferSet(dev, specs)]
    try:
        start = threading.Barrier(2)

        def use(i):
            rng = np.random.default_rng(10 + i)
            start.wait()
            for _ in range(20):
                _roundtrip(sets[i], rng, shapes)
            return True

        results = [None, None]
        workers = [threading.Thread(target=lambda i=i: results.__setitem__(i, _safe(use, i))) for i in range(2)]
        for w in workers:
            w.start()
        for w in workers:
            w.join()
        for r in results:
            if r is not True:
                raise AssertionError("set failed: %s" % (r,))
        ptrs = {b.ptr for s in sets for b in s.buffers.values()}
        if len(ptrs) != 2 * len(specs):
            raise AssertionError("the two sets share device memory")
    finally:
        _in_thread(lambda: [s.free() for s in sets])
    drift = base - dev.mem_get_info()[0]
    if drift > DRIFT_LIMIT:
        raise AssertionError("free memory is %.1f MiB lower after freeing both sets" % (drift / MIB))
    return "2 sets x 20 round trips on 2 threads at once, no cross-talk; freed on a third thread (drift %.1f MiB)" % (
        drift / MIB)


def _safe(fn, *args):
    try:
        return fn(*args)
    except Exception as e:
        return "%s: %s" % (type(e).__name__, e)


def check_threads(dev, n_threads=4, iters=50):
    errors = []
    small = {"input": (np.float32, (1, 288, 384, 3)), "out": (np.float32, (1, 36, 48, 57))}

    def work(i):
        bufs = BufferSet(dev, small)
        try:
            rng = np.random.default_rng(100 + i)
            for _ in range(iters):
                _roundtrip(bufs, rng)
        finally:
            bufs.free()

    threads = [threading.Thread(target=lambda i=i: _record(errors, work, i)) for i in range(n_threads)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    if errors:
        raise AssertionError("; ".join(errors[:3]))
    return "%d threads x %d round trips, each its own buffer set, all bit-exact" % (n_threads, iters)


def _record(errors, fn, *args):
    r = _safe(fn, *args)
    if isinstance(r, str):
        errors.append(r)


def check_copy_timing(dev, reps=50):
    """p50 of H2D of a 288x384x3 float32 input + D2H of stride-8 heatmap and PAF (what one frame moves)."""
    specs = {"input": (np.float32, (1, 288, 384, 3)), "heatmap": (np.float32, (1, 36, 48, 19)),
             "paf": (np.float32, (1, 36, 48, 38))}
    bufs = BufferSet(dev, specs)
    times = []
    try:
        with dev.current():
            bufs.host("input", specs["input"][1])[...] = 0.5
            for _ in range(reps + 5):
                t0 = time.perf_counter()
                bufs.upload("input", specs["input"][1])
                bufs.download("heatmap", specs["heatmap"][1])
                bufs.download("paf", specs["paf"][1])
                bufs.sync()
                times.append(time.perf_counter() - t0)
    finally:
        bufs.free()
    up = bufs_bytes(specs, ["input"])
    down = bufs_bytes(specs, ["heatmap", "paf"])
    return "p50 %.3f ms for H2D %.0f KB + D2H %.0f KB (%d reps)" % (
        statistics.median(times[5:]) * 1e3, up / 1e3, down / 1e3, reps)


def bufs_bytes(specs, names):
    return sum(int(np.prod(specs[n][1])) * np.dtype(specs[n][0]).itemsize for n in names)


def check_coexist(pycuda_dev, cp_dev):
    b = cp_dev.lib.context_handle(cp_dev._ctx)
    with pycuda_dev.current():
        a = cp_dev.lib.current_handle()      # what pycuda made current, as the driver sees it
    if a != b:
        raise AssertionError("pycuda holds context %#x, cuda-python %#x: they should share the primary context"
                             % (a, b))
    # memory from one library, copied by the other, under the shared context
    bufs = BufferSet(pycuda_dev, {"x": (np.float32, (1000,))})
    try:
        with cp_dev.current():
            src = bufs.host("x", (1000,))
            src[...] = np.arange(1000, dtype=np.float32)
            stream = cp_dev.lib.stream_create()
            cp_dev.lib.htod_async(bufs["x"].ptr, src, stream)
            cp_dev.lib.stream_sync(stream)
            src[...] = 0
            cp_dev.lib.dtoh_async(src, bufs["x"].ptr, stream)
            cp_dev.lib.stream_sync(stream)
            cp_dev.lib.stream_destroy(stream)
            ok = np.array_equal(src, np.arange(1000, dtype=np.float32))
    finally:
        bufs.free()
    if not ok:
        raise AssertionError("pycuda buffers copied through cuda-python came back different")
    return "one primary context %#x; pycuda buffers copied by cuda-python bit-exact" % a


__all__ = ["LIBRARIES", "run_all"]
