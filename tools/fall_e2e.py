#!/usr/bin/env python3
"""End-to-end fall check through a pose model: rendered clips -> model -> recorded poses -> falls.

    python tools/fall_e2e.py --record DIR [--first-seed 970000000] [--seeds 5] [--scenarios a,b]
                             [--model M.onnx --profile P]
    python tools/fall_e2e.py --from DIR          # re-score recordings made earlier (no model needed)

For each scenario and seed: ``edgepose synth clip`` renders the clip, ``edgepose run --record`` runs
the model over it (no analytics) and writes the poses, with ``t`` rebased to the clip's time so it
lines up with the ground truth; DIR keeps ``SCENARIO-SEED.jsonl`` (poses) and
``SCENARIO-SEED.truth.json`` (falls, zones, and per fall the share of frames after the impact where
the ground truth shows the person's torso). Then every recording goes through
``edgepose.analytics.Analyzer`` (default config plus the scene's exclusion zones) and is scored by the
one rule of ``edgepose.analytics.scoring.match_falls``: a fall counts as detected when an alert comes
from 0.5 s before its start to 2 s after its impact; any other fall alert is a false alarm, except
one for a fall that lands out of view (counted apart, neither detected nor false). Since
analytics run on the recorded poses exactly as they would live, ``--from`` re-scores after a change
of the fall logic in seconds; a new model needs a new ``--record``.

Seeds: the bundled model was trained on sequence seeds below 800000000; the analytics were tuned on
930000000..930000099; report held-out figures from 970000000 on (never tune on those).
Golden fixtures: ``tests/analytics/data/model_poses/`` holds a few of these recordings (tuning
seeds, ``FIXTURES``); after the bundled model changes, remake them with
``python tools/fall_e2e.py --record /tmp/rec --write-fixtures`` (see that folder's README).
"""
import argparse
import contextlib
import io
import json
import logging
import os
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)

import numpy as np  # noqa: E402

from edgepose.analytics import AnalyticsConfig  # noqa: E402
from edgepose.analytics.scoring import run_frames, score, torso_visible_after  # noqa: E402
from edgepose.recording import read_recording  # noqa: E402

HELD_OUT_FIRST_SEED = 970000000
FIXTURE_DIR = os.path.join(ROOT, "tests", "analytics", "data", "model_poses")
# the golden model-pose fixtures (tuning seeds only): falls of each kind, a slide down a wall, and the
# daily activities most like a fall
FIXTURES = (("fall_forward", 930000001), ("fall_backward", 930000000), ("fall_sideways", 930000002),
            ("fall_from_sitting", 930000004), ("fall_toward_camera", 930000000), ("slide_wall", 930000004),
            ("lie_floor_slow", 930000000), ("sit_fast", 930000002), ("crouch", 930000003),
            ("bend_pick", 930000004))


def record_clip(name, seed, out_dir, model=None, profile=None, tmp=None):
    """Render one clip, run the model over it with ``edgepose run --record``; returns the two paths."""
    from edgepose.cli import main as cli
    from edgepose.synth.sequences import generate_sequence

    base = os.path.join(out_dir, "%s-%d" % (name, seed))
    with tempfile.TemporaryDirectory(dir=tmp) as work:
        clip = os.path.join(work, "clip.mp4")
        with contextlib.redirect_stdout(io.StringIO()):
            if cli(["synth", "clip", "--scenario", name, "--seed", str(seed), "--out", clip]) != 0:
                raise RuntimeError("edgepose synth clip failed for %s seed %d" % (name, seed))
            raw = os.path.join(work, "poses.jsonl")
            argv = ["run", clip, "--record", raw, "--no-analytics", "--threads", "1", "--stats-interval", "0"]
            if model:
                argv += ["--model", model]
            if profile:
                argv += ["--profile", profile]
            if cli(argv) != 0:
                raise RuntimeError("edgepose run failed for %s seed %d" % (name, seed))
        with io.open(os.path.join(work, "clip.truth.json"), encoding="utf-8") as f:
            meta = json.load(f)
        truth_frames = [json.loads(line) for line in io.open(os.path.join(work, "clip.jsonl"), encoding="utf-8")]
        for fall in meta["truth"]:
            fall["torso_visible"] = round(torso_visible_after(truth_frames, fall), 3)
        fps = float(meta["fps"])
        with io.open(raw, encoding="utf-8") as src, io.open(base + ".jsonl", "w", encoding="utf-8") as dst:
            for line in src:
                rec = json.loads(line)
                rec["t"] = round(rec["frame"] / fps, 4)  # the clip's time, as in the ground truth
                rec["source"] = "%s-%d" % (name, seed)
                dst.write(json.dumps(rec, separators=(",", ":")) + "\n")
    with io.open(base + ".truth.json", "w", encoding="utf-8") as f:
        json.dump(meta, f, indent=1)
    return base + ".jsonl", base + ".truth.json"


def write_fixtures(record_dir, out_dir=FIXTURE_DIR, model=None, profile=None):
    """Record (or reuse from ``record_dir``) the ``FIXTURES`` clips and write them compactly
    (coordinates to 0.1 px, scores to 0.01, gzip) with their truth into ``out_dir``."""
    import gzip

    os.makedirs(out_dir, exist_ok=True)
    for name, seed in FIXTURES:
        base = os.path.join(record_dir, "%s-%d" % (name, seed))
        if not (os.path.isfile(base + ".truth.json") and os.path.isfile(base + ".jsonl")):
            record_clip(name, seed, record_dir, model, profile)
        out = os.path.join(out_dir, os.path.basename(base))
        with io.open(base + ".jsonl", encoding="utf-8") as src, \
                gzip.open(out + ".jsonl.gz", "wt", encoding="utf-8", compresslevel=9) as dst:
            for line in src:
                rec = json.loads(line)
                for p in rec["people"]:
                    p["score"] = round(p["score"], 2)
                    p["keypoints"] = [[None, None, 0] if x is None else [round(x, 1), round(y, 1), round(sc, 2)]
                                      for x, y, sc in p["keypoints"]]
                dst.write(json.dumps(rec, separators=(",", ":")) + "\n")
        with io.open(base + ".truth.json", encoding="utf-8") as f:
            meta = json.load(f)
        with io.open(out + ".truth.json", "w", encoding="utf-8") as f:
            json.dump(meta, f, indent=1)
        print("fixture %s: %d bytes" % (out + ".jsonl.gz", os.path.getsize(out + ".jsonl.gz")), file=sys.stderr)


def load_recorded(base):
    """(frames as (t, people, (H, W)), truth falls the torso is visible for, zones, hidden falls) of DIR/NAME."""
    with io.open(base + ".truth.json", encoding="utf-8") as f:
        meta = json.load(f)
    frames = [(r.t, r.people, (r.height, r.width)) for r in read_recording(base + ".jsonl")]
    truth = [e for e in meta["truth"] if e.get("torso_visible", 1.0) >= 0.5]
    return frames, truth, meta.get("zones", []), [e for e in meta["truth"] if e not in truth], meta


def score_dir(directory, config=None, names=None, verbose=False):
    """Score every recording of ``directory``; returns the per-scenario rows and the totals."""
    cfg = config or AnalyticsConfig()
    bases = sorted(os.path.join(directory, f[:-len(".truth.json")]) for f in os.listdir(directory)
                   if f.endswith(".truth.json"))
    rows = {}
    for base in bases:
        frames, truth, zones, hidden, meta = load_recorded(base)
        if names and meta["scenario"] not in names:
            continue
        r = score(run_frames(frames, cfg, zones), truth, hidden=hidden)
        row = rows.setdefault(meta["scenario"], {"clips": 0, "falls": 0, "detected": 0, "fa": 0, "delays": [],
                                                 "hidden": 0})
        row["clips"] += 1
        row["falls"] += r["falls"]
        row["detected"] += r["detected"]
        row["fa"] += r["false_alarms"]
        row["delays"] += r["delays"]
        row["hidden"] += len(hidden)
        if verbose and (r["false_alarms"] or r["detected"] < r["falls"]):
            print("  %s: %d/%d detected, %d false alarm(s); truth %s; alerts at %s" % (
                os.path.basename(base), r["detected"], r["falls"], r["false_alarms"],
                [(e["start_t"], e["impact_t"]) for e in truth], [a.detected_time for a in r["alerts"]]))
    return rows


def print_table(rows, title):
    print(title)
    print("| scenario | clips | falls | detected | false alarms | delay median / max (s) | out of view |")
    print("|---|---|---|---|---|---|---|")
    tot = {"clips": 0, "falls": 0, "detected": 0, "fa": 0, "delays": [], "hidden": 0}
    for name in sorted(rows):
        r = rows[name]
        d = r["delays"]
        print("| %s | %d | %d | %d | %d | %s | %d |" % (
            name, r["clips"], r["falls"], r["detected"], r["fa"],
            "%.2f / %.2f" % (np.median(d), np.max(d)) if d else "-", r["hidden"]))
        for k in tot:
            tot[k] += r[k]
    d = tot["delays"]
    print("| **all** | %d | %d | %d (%.1f%%) | %d | %s | %d |" % (
        tot["clips"], tot["falls"], tot["detected"], 100.0 * tot["detected"] / max(tot["falls"], 1), tot["fa"],
        "%.2f / %.2f" % (np.median(d), np.max(d)) if d else "-", tot["hidden"]))
    return tot


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    g = ap.add_mutually_exclusive_group(required=True)
    g.add_argument("--record", metavar="DIR", help="render, run the model and keep the recordings here")
    g.add_argument("--from", dest="from_dir", metavar="DIR", help="score recordings made earlier")
    ap.add_argument("--seeds", type=int, default=5)
    ap.add_argument("--first-seed", type=int, default=HELD_OUT_FIRST_SEED)
    ap.add_argument("--model")
    ap.add_argument("--profile")
    ap.add_argument("--scenarios", help="comma-separated (default: all)")
    ap.add_argument("--verbose", action="store_true", help="list every clip with a miss or a false alarm")
    ap.add_argument("--write-fixtures", action="store_true", help="(with --record DIR) record the golden "
                    "fixture clips (FIXTURES) into DIR and write them to tests/analytics/data/model_poses/")
    args = ap.parse_args(argv)
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    from edgepose.synth import SCENARIOS

    names = args.scenarios.split(",") if args.scenarios else sorted(SCENARIOS)
    directory = args.record or args.from_dir
    if args.write_fixtures:
        if not args.record:
            ap.error("--write-fixtures needs --record DIR (where the clips are recorded or found)")
        os.makedirs(directory, exist_ok=True)
        write_fixtures(directory, model=args.model, profile=args.profile)
        return 0
    if args.record:
        os.makedirs(directory, exist_ok=True)
        todo = [(n, s) for n in names for s in range(args.first_seed, args.first_seed + args.seeds)]
        t0 = time.time()
        for i, (name, seed) in enumerate(todo, 1):
            base = os.path.join(directory, "%s-%d" % (name, seed))
            if not (os.path.isfile(base + ".truth.json") and os.path.isfile(base + ".jsonl")):
                record_clip(name, seed, directory, args.model, args.profile)
            print("recorded %d/%d clips (%s seed %d), %.0f s" % (i, len(todo), name, seed, time.time() - t0),
                  file=sys.stderr, flush=True)
    if not os.path.isdir(directory):
        print("%s: no such folder of recordings" % directory, file=sys.stderr)
        return 2
    rows = score_dir(directory, names=set(names), verbose=args.verbose)
    print_table(rows, "falls on poses recorded from the model (%s)" % directory)
    return 0


if __name__ == "__main__":
    sys.exit(main())
