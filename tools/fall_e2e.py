"""End-to-end fall check through a pose model: rendered clips -> model -> tracking -> falls.

    python tools/fall_e2e.py [--seeds 2] [--model M.onnx --profile P] [--scenarios a,b,...]

For each scenario and seed, renders the clip (edgepose.synth), runs the full pipeline with analytics on
the CPU and compares the fall alerts with the ground truth: a fall counts as detected when an alert comes
by the one rule of edgepose.analytics.scoring.match_falls (from 0.5 s before its start to 2 s after the
impact); any other fall alert is a false alarm. Prints a table.
"""
import argparse
import os
import sys
import tempfile

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)

from edgepose.analytics import Analyzer, AnalyticsConfig  # noqa: E402
from edgepose.analytics.scoring import match_falls  # noqa: E402
from edgepose.profiles import resolve_model  # noqa: E402
from edgepose.pipeline import Pipeline  # noqa: E402
from edgepose.synth import SCENARIOS, generate_sequence, write_clip  # noqa: E402


def run_clip(seq, model, profile, tmp):
    path = os.path.join(tmp, "%s-%d.mp4" % (seq.scenario, seq.seed))
    write_clip(seq, path)
    cfg = AnalyticsConfig.model_validate({"zones": [dict(z) for z in seq.zones]}) if seq.zones else AnalyticsConfig()
    alerts, t0 = [], [None]

    class Collect(object):
        def handle(self, change, frame=None):
            if change.type == "new" and change.after.label == "fall":
                alerts.append(change.after.detected_time)

        def close(self, timeout=None):
            pass

    pipe = Pipeline(path, model=model, profile=profile, analytics=lambda s: Analyzer(cfg, s), sinks=[Collect()],
                    stats_interval=0)
    try:
        for r in pipe:
            if t0[0] is None:
                t0[0] = r.frame.t - r.frame.index / seq.fps
    finally:
        pipe.close()
    return [a - t0[0] for a in alerts]


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--seeds", type=int, default=2)
    ap.add_argument("--first-seed", type=int, default=500)
    ap.add_argument("--model")
    ap.add_argument("--profile")
    ap.add_argument("--scenarios", help="comma-separated (default: all)")
    args = ap.parse_args(argv)
    model, profile = resolve_model(args.model, profile=args.profile)
    names = args.scenarios.split(",") if args.scenarios else sorted(SCENARIOS)
    print("%-20s %6s %8s %12s %s" % ("scenario", "falls", "detected", "false alarms", "delay after impact (s)"))
    tot = [0, 0, 0]
    with tempfile.TemporaryDirectory() as tmp:
        for name in names:
            falls = hit = fa = 0
            delays = []
            for seed in range(args.first_seed, args.first_seed + args.seeds):
                seq = generate_sequence(name, seed, fps=15.0)
                alerts = run_clip(seq, model, profile, tmp)
                matches, false_alarms = match_falls(alerts, seq.truth)
                falls += len(matches)
                for tr, i in matches:
                    if i is not None:
                        hit += 1
                        delays.append(alerts[i] - tr["impact_t"])
                fa += false_alarms
            tot[0] += falls
            tot[1] += hit
            tot[2] += fa
            print("%-20s %6d %8d %12d %s" % (name, falls, hit, fa, " ".join("%.2f" % d for d in delays) or "-"),
                  flush=True)
    print("total: %d/%d falls detected, %d false alarms (%d clips)" % (tot[1], tot[0], tot[2], len(names) * args.seeds))
    return 0


if __name__ == "__main__":
    sys.exit(main())
