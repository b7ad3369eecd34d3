"""Replay throughput for `make bench`: frames per second of `edgepose replay` on synthetic poses.

    python tools/bench_replay.py [--frames 50000]

Concatenates labelled synthetic sequences (all scenarios, several seeds, as two interleaved sources)
into one recording, then times the replay (tracking, posture, falls, events; no sinks).
"""
import argparse
import json
import os
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)

from edgepose.replay import replay  # noqa: E402
from edgepose.synth import SCENARIOS, generate_sequence  # noqa: E402


def write_recording(path, frames):
    n = 0
    t_offset = {"cam1": 0.0, "cam2": 0.0}
    with open(path, "w") as f:
        seed = 0
        while n < frames:
            for name in sorted(SCENARIOS):
                src = "cam1" if seed % 2 == 0 else "cam2"
                seq = generate_sequence(name, seed, fps=15.0)
                last = 0.0
                for fr in seq.frames:
                    rec = dict(fr)
                    rec.pop("activity", None)
                    rec["source"] = src
                    rec["t"] = fr["t"] + t_offset[src]
                    last = rec["t"]
                    f.write(json.dumps(rec) + "\n")
                    n += 1
                t_offset[src] = last + 5.0
                seed += 1
                if n >= frames:
                    break
    return n


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--frames", type=int, default=50000)
    args = ap.parse_args(argv)
    with tempfile.TemporaryDirectory() as tmp:
        path = os.path.join(tmp, "poses.jsonl")
        n = write_recording(path, args.frames)
        c0 = time.process_time()
        st = replay(path, progress_every_s=0)
        cpu = time.process_time() - c0
    print("replay throughput (%d frames, %.2f people/frame, %d sources, no sinks)" % (n, st.people / max(1, st.frames),
                                                                                    len(st.sources)))
    print("  wall %.2f s: %.0f frames/s; cpu %.2f s: %.0f frames per cpu-second; %d event changes"
          % (st.seconds, st.fps, cpu, st.frames / max(cpu, 1e-9), st.changes))
    return 0


if __name__ == "__main__":
    sys.exit(main())
