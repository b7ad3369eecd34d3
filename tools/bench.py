"""`make bench`: every benchmark, each in its own process (they set thread counts before numpy loads).

1. tools/bench_decode.py: decode time per map set on one thread, against a naive upsample-and-blur decoder.
2. tools/bench_loop.py: per-stage latency, loop overhead over bare inference, RSS over a long run.
3. tools/bench_replay.py: analytics replay throughput.
4. tools/bench_host.py: the GPU path's host work: preprocessing of a 1080p frame against a bare cv2.resize,
   device->host bytes per frame of tao-bpnet 288x384 with and without the PAF upsampling.
Extra arguments are not passed on; run a script alone for its options.
"""
import os
import subprocess
import sys

HERE = os.path.dirname(os.path.abspath(__file__))


def main():
    failed = []
    for script in ("bench_decode.py", "bench_loop.py", "bench_replay.py", "bench_host.py"):
        print("\n=== %s ===" % script, flush=True)
        r = subprocess.run([sys.executable, os.path.join(HERE, script)])
        if r.returncode != 0:
            failed.append(script)
    if failed:
        print("\nfailed: %s" % ", ".join(failed))
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
