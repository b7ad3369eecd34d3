#!/usr/bin/env python3
"""Fall detection report over the synthetic scenarios: recall, false alarms, detection delay.

    python tools/fall_report.py [--seeds 10] [--first-seed 970000000] [--fps 15] [--jitter 0.01]
                                [--dropout 0.05] [--clean]
    python tools/fall_report.py --bench      # analytics frames/s and greedy vs Hungarian assignment

Each scenario of ``edgepose.synth.SCENARIOS`` is generated with several seeds, perturbed like a real
detector (keypoint jitter in body heights, keypoint dropout, dropped frames) and run through
``edgepose.analytics.Analyzer`` with the default config. A fall counts as detected when the alert
is raised within 2 s of the impact; falls whose person is out of the picture after the impact
(torso not in the ground truth) are counted apart ("out of view"), no pose detector can see them.
Alerts are 'fall' and 'person_down' (a slow slide that ends slumped), matched by
``edgepose.analytics.scoring.match_falls``.

Seed discipline: the bundled model was trained on sequence seeds below 800000000; the analytics are
tuned on 930000000..930000099 (``--first-seed 930000000``) and 940000000..940000019 (slides to
940000059); the default, 970000000 on, is held out
for reported figures: never tune on it.

Exit status: 0 when every fall is detected and there is no false alarm, 1 otherwise (a gate for
scripts: the last line says why); ``--bench`` always exits 0.
"""
import argparse
import os
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

import numpy as np  # noqa: E402

from edgepose.analytics import AnalyticsConfig  # noqa: E402
from edgepose.analytics.scoring import clean, perturb, run_frames, score, visible_falls  # noqa: E402


def report(args):
    from edgepose.synth.sequences import SCENARIOS, generate_sequence

    cfg = AnalyticsConfig()
    rows = []
    tot = {"falls": 0, "detected": 0, "fa": 0, "seq": 0, "hours": 0.0, "delays": []}
    names = args.scenarios or list(SCENARIOS)
    for name in names:
        sc = SCENARIOS[name]
        falls = det = fa = hidden = 0
        delays = []
        dur = 0.0
        for seed in range(args.first_seed, args.first_seed + args.seeds):
            seq = generate_sequence(name, seed, fps=args.fps)
            frames = clean(seq.frames) if args.clean else perturb(
                seq.frames, 1000 + seed, args.jitter, args.dropout, args.frame_drop)
            truth, out_of_view = visible_falls(seq.frames, seq.truth)
            hidden += len(out_of_view)
            r = score(run_frames(frames, cfg, seq.zones), truth, hidden=out_of_view)
            falls += r["falls"]
            det += r["detected"]
            fa += r["false_alarms"]
            delays += r["delays"]
            dur += seq.frames[-1]["t"] - seq.frames[0]["t"] if seq.frames else 0.0
        rows.append((name, "fall" if sc.falls else "no fall", falls, det, fa, delays, dur, hidden))
        tot["falls"] += falls
        tot["detected"] += det
        tot["fa"] += fa
        tot["delays"] += delays
        tot["hours"] += dur / 3600.0
    print("fall detection on synthetic scenarios: seeds %d..%d, %.0f fps, jitter %.3f body heights, dropout %.2f%s"
          % (args.first_seed, args.first_seed + args.seeds - 1, args.fps, args.jitter, args.dropout,
             " (clean poses)" if args.clean else ""))
    print("| scenario | kind | falls | detected | recall | false alarms | delay median / max (s) | out of view |")
    print("|---|---|---|---|---|---|---|---|")
    for name, kind, falls, det, fa, delays, dur, hidden in rows:
        recall = "%.0f%%" % (100.0 * det / falls) if falls else "-"
        dl = "%.2f / %.2f" % (np.median(delays), np.max(delays)) if delays else "-"
        print("| %s | %s | %d | %d | %s | %d | %s | %d |" % (name, kind, falls, det, recall, fa, dl, hidden))
    d = tot["delays"]
    print("| **all** | | %d | %d | %.0f%% | %d | %s | |" % (
        tot["falls"], tot["detected"], 100.0 * tot["detected"] / max(tot["falls"], 1), tot["fa"],
        "%.2f / %.2f" % (np.median(d), np.max(d)) if d else "-"))
    if tot["detected"] == tot["falls"] and tot["fa"] == 0:
        return 0
    print("exit status 1: %d of %d falls missed, %d false alarm(s) (see the table)"
          % (tot["falls"] - tot["detected"], tot["falls"], tot["fa"]))
    return 1


def bench(args):
    from edgepose.analytics import Analyzer
    from edgepose.analytics import tracker as trk
    from edgepose.synth.sequences import generate_sequence

    frames = []
    t0 = 0.0
    for i, name in enumerate(("crossing", "mixed", "fall_forward", "walking", "sit_chair")):
        seq = generate_sequence(name, i)
        fr = perturb(seq.frames, i)
        frames += [(t + t0, p, s) for t, p, s in fr]
        t0 = frames[-1][0] + 1.0
    n_people = sum(len(p) for _, p, _ in frames)
    print("analytics throughput on %d frames (%.2f people/frame):" % (len(frames), n_people / len(frames)))
    for method in ("greedy", "hungarian"):
        if method == "hungarian" and trk.scipy_assignment() is None:
            print("  hungarian: scipy not installed")
            continue
        cfg = AnalyticsConfig(tracker={"assignment": method})
        best = None
        for _ in range(3):
            an = Analyzer(cfg, "bench")
            t = time.perf_counter()
            for tt, p, s in frames:
                an.update(tt, p, s)
            el = time.perf_counter() - t
            best = el if best is None else min(best, el)
        print("  %-9s %8.0f frames/s  (%.1f us/frame)" % (method, len(frames) / best, 1e6 * best / len(frames)))
    # the assignment step alone, on random OKS matrices of typical sizes
    rng = np.random.default_rng(0)
    for n in (2, 5, 10, 20):
        mats = [rng.random((n, n)) for _ in range(200)]
        for name, fn in (("greedy", trk.greedy_assign), ("hungarian", trk.hungarian_assign)):
            if name == "hungarian" and trk.scipy_assignment() is None:
                continue
            t = time.perf_counter()
            for m in mats:
                fn(m, 0.1)
            el = (time.perf_counter() - t) / len(mats)
            agree = np.mean([sorted(trk.greedy_assign(m, 0.1)) == sorted(trk.hungarian_assign(m, 0.1))
                             for m in mats]) if trk.scipy_assignment() is not None else float("nan")
            print("  assign %2dx%-2d %-9s %7.1f us   (greedy == optimal on %.0f%% of random matrices)"
                  % (n, n, name, el * 1e6, 100 * agree))
    return 0


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--seeds", type=int, default=10)
    ap.add_argument("--first-seed", type=int, default=970000000,
                    help="default 970000000: held out (tune on 930000000..930000099)")
    ap.add_argument("--fps", type=float, default=15.0)
    ap.add_argument("--jitter", type=float, default=0.01, help="keypoint jitter, in body heights (sigma)")
    ap.add_argument("--dropout", type=float, default=0.05, help="share of keypoints missed")
    ap.add_argument("--frame-drop", type=float, default=0.03, help="share of frames dropped")
    ap.add_argument("--clean", action="store_true", help="ground-truth poses, no noise")
    ap.add_argument("--bench", action="store_true", help="throughput and assignment benchmark instead")
    ap.add_argument("scenarios", nargs="*")
    args = ap.parse_args(argv)
    return bench(args) if args.bench else report(args)


if __name__ == "__main__":
    sys.exit(main())
