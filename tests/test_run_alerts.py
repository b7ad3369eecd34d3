"""`edgepose run` with analytics: the event feed, --config and the option checks."""
import json
import os

import pytest

from edgepose.cli import main


@pytest.fixture(scope="module")
def short_clip(tmp_path_factory):
    from edgepose.synth import generate_sequence, write_clip

    d = tmp_path_factory.mktemp("clip")
    seq = generate_sequence("walking", 1, fps=10.0, duration=2.0)
    path, _ = write_clip(seq, str(d / "walk.mp4"))
    return path


def test_run_writes_event_feed_and_reports_alerts(short_clip, tfpose_model, tmp_path, capsys):
    cfg = tmp_path / "c.yaml"
    cfg.write_text("analytics:\n  fall:\n    long_lie_s: 30\nsinks:\n  log:\n    enabled: false\n")
    ev = tmp_path / "events.jsonl"
    rc = main(["run", short_clip, "--model", tfpose_model, "--profile", "tf-pose", "--config", str(cfg),
               "--events", str(ev), "--record", str(tmp_path / "p.jsonl"), "--threads", "1"])
    out = capsys.readouterr().out
    assert rc == 0
    assert "alerts: " in out and "events: %s" % ev in out
    assert ev.exists()  # walking: no alert expected, but the feed file is there
    for line in ev.read_text().splitlines():
        assert json.loads(line)["type"] in ("new", "update", "end")
    assert len((tmp_path / "p.jsonl").read_text().splitlines()) == 20


def test_run_rejects_contradictory_options(short_clip, tmp_path, capsys):
    rc = main(["run", short_clip, "--model", "x.onnx", "--no-analytics", "--events", str(tmp_path / "e.jsonl")])
    assert rc == 2
    assert "--no-analytics" in capsys.readouterr().err


def test_run_bad_config_key_is_named(short_clip, tfpose_model, tmp_path, capsys):
    cfg = tmp_path / "c.yaml"
    cfg.write_text("analytics:\n  fall:\n    long_lie_sec: 30\n")
    rc = main(["run", short_clip, "--model", tfpose_model, "--profile", "tf-pose", "--config", str(cfg)])
    err = capsys.readouterr().err
    assert rc == 2 and "analytics.fall.long_lie_sec" in err and str(cfg) in err
