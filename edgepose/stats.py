"""Run statistics of the loop and the process resources they concern.

``PipelineStats``: per-stage latency (median, p90), end-to-end latency, FPS, dropped frames, CPU %
and RSS; updated by the loop and read by anyone (thread-safe). ``default_threads`` and
``limit_blas_threads`` decide how the loop shares the CPU cores.
"""
import collections
import os
import threading
import time

import numpy as np

STAGES = ("capture", "preprocess", "infer", "decode", "analytics", "sinks")


def rss_bytes():
    """Resident set size of this process in bytes (Linux /proc; ru_maxrss peak elsewhere)."""
    try:
        with open("/proc/self/statm") as f:
            return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")
    except (OSError, ValueError, IndexError):
        import resource

        return int(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss) * 1024


def default_threads(threads=None):
    """Inference threads for a CPU backend: ``threads`` if given, else all cores but one, so that
    capture, preprocessing and decoding run beside inference instead of stealing its cores."""
    if threads:
        return int(threads)
    return max(1, (os.cpu_count() or 1) - 1)


_BLAS_SETTERS = ("scipy_openblas_set_num_threads64_", "scipy_openblas_set_num_threads", "openblas_set_num_threads64_",
                 "openblas_set_num_threads", "MKL_Set_Num_Threads")


def limit_blas_threads(n=1):
    """Cap the threads of the BLAS library numpy loaded (OpenBLAS/MKL); returns the libraries changed.

    OpenBLAS workers busy-wait after every call, so numpy in the decoder would keep a core spinning
    that inference needs (measured here: ~30% of a core). Like threadpoolctl, without the dependency.
    """
    import ctypes

    try:
        with open("/proc/self/maps") as f:
            libs = sorted({line.split()[-1] for line in f if ("blas" in line.lower() or "mkl_rt" in line) and ".so" in line})
    except OSError:
        return []
    changed = []
    for path in libs:
        try:
            lib = ctypes.CDLL(path)
        except OSError:
            continue
        for sym in _BLAS_SETTERS:
            fn = getattr(lib, sym, None)
            if fn is not None:
                fn(int(n))
                changed.append(os.path.basename(path))
                break
    return changed


def _cpu_seconds():
    t = os.times()
    return t.user + t.system


class PipelineStats:
    """Rolling statistics over the last ``window`` frames plus run totals."""

    def __init__(self, window=500):
        self._lock = threading.Lock()
        self._lat = collections.defaultdict(lambda: collections.deque(maxlen=window))
        self._done = collections.deque(maxlen=window)   # monotonic completion times
        self.frames = 0
        self.people = 0
        self.dropped = 0          # frames the loop skipped (newest-frame-wins)
        self.source_dropped = 0   # frames the source's reader replaced before anyone read them
        self.started = time.monotonic()
        self.finished = None
        self.rss_start = rss_bytes()
        self._cpu0 = _cpu_seconds()
        self._cpu_mark = (time.monotonic(), self._cpu0)
        self.cpu_percent = 0.0

    def add(self, timings, n_people, done=None):
        done = time.monotonic() if done is None else done
        with self._lock:
            for k, v in timings.items():
                self._lat[k].append(v)
            self._done.append(done)
            self.frames += 1
            self.people += n_people

    def stop(self):
        self.finished = time.monotonic()

    @property
    def elapsed(self):
        return (self.finished or time.monotonic()) - self.started

    @property
    def fps(self):
        """Frames per second over the rolling window (whole run when it is shorter)."""
        with self._lock:
            if len(self._done) >= 2:
                span = self._done[-1] - self._done[0]
                return (len(self._done) - 1) / span if span > 0 else 0.0
        return self.frames / self.elapsed if self.elapsed > 0 else 0.0

    @property
    def mean_fps(self):
        return self.frames / self.elapsed if self.elapsed > 0 else 0.0

    def latency(self, stage):
        """(median, p90) seconds of a stage (or 'total'), or (nan, nan) before any frame."""
        with self._lock:
            vals = np.asarray(self._lat.get(stage, ()), dtype=np.float64)
        if vals.size == 0:
            return float("nan"), float("nan")
        med, p90 = np.percentile(vals, [50, 90])
        return float(med), float(p90)

    def stages(self):
        with self._lock:
            keys = list(self._lat)
        order = [s for s in STAGES if s in keys] + sorted(k for k in keys if k not in STAGES and k != "total")
        return order + (["total"] if "total" in keys else [])

    def sample_cpu(self):
        """CPU % of this process (all threads; 100 = one core) since the previous sample."""
        now, cpu = time.monotonic(), _cpu_seconds()
        t0, c0 = self._cpu_mark
        if now - t0 > 0.05:
            self.cpu_percent = 100.0 * (cpu - c0) / (now - t0)
            self._cpu_mark = (now, cpu)
        return self.cpu_percent

    def snapshot(self):
        """A JSON-ready dict of everything."""
        lat = {}
        for s in self.stages():
            med, p90 = self.latency(s)
            lat[s] = {"median_ms": round(med * 1e3, 3), "p90_ms": round(p90 * 1e3, 3)}
        rss = rss_bytes()
        return {
            "frames": self.frames, "people_per_frame": round(self.people / self.frames, 3) if self.frames else 0.0,
            "fps": round(self.fps, 2), "mean_fps": round(self.mean_fps, 2), "elapsed_s": round(self.elapsed, 3),
            "dropped": self.dropped + self.source_dropped, "cpu_percent": round(self.sample_cpu(), 1),
            "rss_mb": round(rss / 2 ** 20, 2), "rss_growth_mb": round((rss - self.rss_start) / 2 ** 20, 2),
            "latency": lat,
        }

    def log_line(self):
        s = self.snapshot()
        parts = ["%s %.1f/%.1f" % (k, v["median_ms"], v["p90_ms"]) for k, v in s["latency"].items()]
        return ("%d frames, %.1f fps, %d dropped, cpu %.0f%%, rss %.1f MB | ms median/p90: %s"
                % (s["frames"], s["fps"], s["dropped"], s["cpu_percent"], s["rss_mb"], ", ".join(parts)))

    def table(self):
        """Multi-line text table of per-stage latency."""
        lines = ["%-12s %10s %10s" % ("stage", "median ms", "p90 ms")]
        for k in self.stages():
            med, p90 = self.latency(k)
            lines.append("%-12s %10.2f %10.2f" % (k, med * 1e3, p90 * 1e3))
        return "\n".join(lines)
