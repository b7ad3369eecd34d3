"""`make demo`: the main job, end to end, on the CPU with the bundled demo model.

1. Renders a synthetic clip (a few people in a room; one of them falls) with its ground truth.
2. Runs the bundled model over it with ONNX Runtime: preprocessing, inference, decoding, tracking,
   posture, fall detection, alert sinks (event feed JSONL, snapshots, log), on the same code path a
   Jetson uses with a TensorRT engine.
3. Prints people per second of video against the ground truth, and each alert with its delay after
   the impact; writes an annotated video (each tracked person's id and posture, a red box and banner
   while a fall or long lie is open), the pose recording, the event feed and a JSON summary.

    python tools/demo.py --out demo-output [--scenario mixed] [--seed 7] [--model M.onnx --profile P]
"""
import argparse
import json
import logging
import os
import sys
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)

from edgepose.analytics import Analyzer, AnalyticsConfig  # noqa: E402
from edgepose.analytics.scoring import match_falls  # noqa: E402
from edgepose.profiles import resolve_model  # noqa: E402
from edgepose.errors import EdgeposeError  # noqa: E402
from edgepose.pipeline import Pipeline  # noqa: E402
from edgepose.recording import RecordingWriter  # noqa: E402
from edgepose.sinks import SinkSet, SinksConfig, build_sinks  # noqa: E402
from edgepose.sinks.video import VideoWriterSink  # noqa: E402
from edgepose.synth import generate_sequence, write_clip  # noqa: E402

log = logging.getLogger("demo")


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--out", default="demo-output", help="output folder (default demo-output)")
    ap.add_argument("--scenario", default="mixed", help="synthetic scenario (edgepose synth clip --list)")
    ap.add_argument("--seed", type=int, default=7)
    ap.add_argument("--fps", type=float, default=15.0)
    ap.add_argument("--model", help="ONNX model (default: the bundled demo model)")
    ap.add_argument("--profile", help="profile of --model")
    args = ap.parse_args(argv)
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    try:
        return run(args)
    except EdgeposeError as e:
        print("demo: error: %s" % e, file=sys.stderr)
        return e.exit_code


def run(args):
    t_start = time.time()
    out = os.path.abspath(args.out)
    os.makedirs(out, exist_ok=True)
    model, profile = resolve_model(args.model, profile=args.profile)

    print("1/3 rendering a synthetic clip (scenario %r, seed %d) ..." % (args.scenario, args.seed), flush=True)
    seq = generate_sequence(args.scenario, args.seed, fps=args.fps)
    clip = os.path.join(out, "clip.mp4")
    write_clip(seq, clip)
    truth = [dict(t) for t in seq.truth]
    n_truth = [len(f["people"]) for f in seq.frames]
    print("    %s: %d frames at %.0f fps, %dx%d, %d-%d people in view; ground truth: %s"
          % (clip, len(seq.frames), seq.fps, seq.size[1], seq.size[0], min(n_truth), max(n_truth),
             "; ".join("track %s falls at %.1f s (on the floor %.1f s)" % (t["track_id"], t["start_t"], t["impact_t"])
                       for t in truth) or "no fall"))

    print("2/3 running %s on the CPU (ONNX Runtime) with tracking, posture and fall alerts ..."
          % os.path.basename(model), flush=True)
    acfg = AnalyticsConfig.model_validate({"zones": [dict(z) for z in seq.zones]}) if seq.zones else AnalyticsConfig()
    scfg = SinksConfig.model_validate({
        "log": {"enabled": False},
        "jsonl": {"enabled": True, "path": os.path.join(out, "events.jsonl")},
        "snapshots": {"enabled": True, "dir": os.path.join(out, "snapshots")},
    })
    alerts, active = [], {}
    t0 = [None]  # capture time of the first frame: file sources stamp frames with wall-clock start + media time

    def rel(t):
        return t - (t0[0] or 0.0) if t is not None else float("nan")

    class _Collect(object):
        def handle(self, change, frame=None):
            ev = change.after
            if change.type == "new":
                a = ev.to_json()
                a["clip_detected_s"], a["clip_start_s"] = rel(ev.detected_time), rel(ev.start_time)
                alerts.append(a)
                active[ev.id] = ev.label
                print("    ALERT %-10s track %s at %.2f s into the clip (motion began %.2f s), severity %s, snapshot %s"
                      % (ev.label, ev.track_id, a["clip_detected_s"], a["clip_start_s"],
                         ev.severity, ev.snapshot or "-"), flush=True)
            elif change.type == "end":
                active.pop(ev.id, None)
                print("    end   %-10s track %s at %.2f s" % (ev.label, ev.track_id, rel(ev.end_time)),
                      flush=True)

        def close(self, timeout=None):
            pass

    sinks = SinkSet(build_sinks(scfg) + [_Collect()])
    video = VideoWriterSink(os.path.join(out, "annotated.mp4"), fps=seq.fps)
    recorder = RecordingWriter(os.path.join(out, "poses.jsonl"))
    counts = []
    pipe = Pipeline(clip, model=model, profile=profile, analytics=lambda src: Analyzer(acfg, src), sinks=sinks,
                    stats_interval=0)
    try:
        for r in pipe:
            if t0[0] is None:
                t0[0] = r.frame.t - r.frame.index / seq.fps
            recorder.write(r)
            counts.append(len(r.people))
            video.write(r, set(active.values()))   # skeletons, "#id posture" per person, the alert banner
    finally:
        pipe.close()
        sinks.close(5.0)
        video.close()
        recorder.close()

    print("3/3 results")
    fps = int(round(seq.fps))
    print("    second  people found  people in ground truth")
    for s in range(0, len(counts), fps):
        found, want = counts[s:s + fps], n_truth[s:s + fps]
        print("    %5d   %12.1f  %22.1f" % (s // fps, sum(found) / len(found), sum(want) / len(want)))
    recall = sum(min(a, b) for a, b in zip(counts, n_truth)) / max(1, sum(n_truth))
    falls = [a for a in alerts if a["label"] == "fall"]
    matches, extra = match_falls([a["clip_detected_s"] for a in falls], truth)
    report = []
    for t, i in matches:
        if i is not None:
            delay = falls[i]["clip_detected_s"] - t["impact_t"]
            report.append("fall of track %s (impact %.2f s) -> alert at %.2f s, %.2f s after the impact"
                          % (t["track_id"], t["impact_t"], falls[i]["clip_detected_s"], delay))
        else:
            report.append("fall of track %s (impact %.2f s) -> NOT detected" % (t["track_id"], t["impact_t"]))
    for line in report:
        print("    " + line)
    if extra > 0:
        print("    %d fall alert(s) with no fall in the ground truth" % extra)
    stats = pipe.stats.snapshot()
    summary = {
        "model": model, "profile": pipe.profile.name, "scenario": args.scenario, "seed": args.seed,
        "frames": len(counts), "people_per_frame": sum(counts) / max(1, len(counts)),
        "truth_people_per_frame": sum(n_truth) / max(1, len(n_truth)), "people_recall": recall,
        "truth": truth, "alerts": alerts, "fall_report": report, "stats": stats,
        "seconds": time.time() - t_start,
    }
    with open(os.path.join(out, "result.json"), "w") as f:
        json.dump(summary, f, indent=1, default=str)
    print("    %d frames, %.2f people/frame found vs %.2f in the ground truth (%.0f%% of people-frames), "
          "%.1f fps on this CPU" % (len(counts), summary["people_per_frame"], summary["truth_people_per_frame"],
                                    100 * recall, stats.get("mean_fps", 0.0)))
    print("outputs in %s:" % out)
    for name in ("annotated.mp4", "clip.mp4", "clip.jsonl", "poses.jsonl", "events.jsonl", "result.json",
                 "snapshots/"):
        print("    %s" % os.path.join(out, name))
    print("demo finished in %.0f s (the model recognises synthetic figures, not real people: see README)"
          % (time.time() - t_start))
    return 0


if __name__ == "__main__":
    sys.exit(main())
