"""`make bench`: every benchmark, each in its own process (they set thread counts before numpy loads).

1. tools/bench_decode.py: decode time per map set on one thread, against a naive upsample-and-blur decoder.
2. tools/bench_loop.py: the model's latency at its input size (ONNX Runtime, one thread; the demo model's
   target: 15 ms), per-stage latency, loop overhead over bare inference, RSS over a long run.
3. tools/bench_replay.py: analytics replay throughput.
4. tools/bench_host.py: the GPU path's host work: preprocessing of a 1080p frame (float path and uint8 path)
   against a bare cv2.resize, host->device and device->host bytes per frame of tao-bpnet 288x384.
Extra arguments are not passed on; run a script alone for its options.

It starts and ends with the machine (CPU model, cores, memory) and its load average: figures quoted
anywhere (README) say where and under what load they were measured.
"""
import os
import platform
import subprocess
import sys

HERE = os.path.dirname(os.path.abspath(__file__))


def _cpu_model():
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.lower().startswith(("model name", "hardware", "processor\t: arm")):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def machine_line():
    """'Intel(R) Xeon(R) ..., 2 cores (sched), 7.8 GiB, Linux x86_64, Python 3.11.7'."""
    try:
        cores = len(os.sched_getaffinity(0))
    except AttributeError:
        cores = os.cpu_count() or 0
    mem = ""
    try:
        mem = ", %.1f GiB" % (os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2.0 ** 30)
    except (ValueError, OSError, AttributeError):
        pass
    return "%s, %d cores usable%s, %s %s, Python %s" % (_cpu_model(), cores, mem, platform.system(),
                                                       platform.machine(), platform.python_version())


def load_line():
    try:
        return "load average (1, 5, 15 min): %.2f %.2f %.2f" % os.getloadavg()
    except OSError:
        return "load average: unknown"


def main():
    print("machine: %s" % machine_line())
    print("before: %s" % load_line(), flush=True)
    failed = []
    for script in ("bench_decode.py", "bench_loop.py", "bench_replay.py", "bench_host.py"):
        print("\n=== %s ===" % script, flush=True)
        r = subprocess.run([sys.executable, os.path.join(HERE, script)])
        if r.returncode != 0:
            failed.append(script)
    print("\nafter: %s (machine: %s)" % (load_line(), machine_line()))
    if failed:
        print("\nfailed: %s" % ", ".join(failed))
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
