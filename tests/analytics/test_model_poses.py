"""Golden regression on poses recorded from the bundled model (``data/model_poses/``, see its README).

Every fall (label 'fall' or 'person_down') must be raised within 2 s of the impact by the one
matching rule (``scoring.match_falls``); the other clips (lying down on purpose, sitting down fast,
crouching, bending) must raise nothing. The recordings come from tuning seeds.
"""
import gzip
import io
import json
import os

import pytest

from edgepose.analytics.scoring import run_frames, score
from edgepose.recording import frame_from_json

DATA = os.path.join(os.path.dirname(__file__), "data", "model_poses")
CLIPS = sorted(f[:-len(".jsonl.gz")] for f in os.listdir(DATA) if f.endswith(".jsonl.gz"))


def load(name):
    with gzip.open(os.path.join(DATA, name + ".jsonl.gz"), "rt", encoding="utf-8") as f:
        recs = [frame_from_json(json.loads(line)) for line in f]
    with io.open(os.path.join(DATA, name + ".truth.json"), encoding="utf-8") as f:
        meta = json.load(f)
    return [(r.t, r.people, (r.height, r.width)) for r in recs], meta


def test_the_fixtures_are_there_and_small():
    assert len(CLIPS) >= 8
    assert sum(os.path.getsize(os.path.join(DATA, f)) for f in os.listdir(DATA)) < 400 * 1024


@pytest.mark.parametrize("name", CLIPS)
def test_model_poses(name):
    frames, meta = load(name)
    assert len(frames) == meta["frames"]
    truth = [e for e in meta["truth"] if e.get("torso_visible", 1.0) >= 0.5]
    r = score(run_frames(frames, zones=meta["zones"], source=name), truth)
    alerts = [(a.label, a.detected_time) for a in r["alerts"]]
    assert r["false_alarms"] == 0, alerts
    assert r["detected"] == r["falls"] == len(truth), (truth, alerts)
    assert all(0.0 <= d <= 2.0 for d in r["delays"]), r["delays"]
