"""``edgepose replay``: recorded poses (several sources interleaved) -> analytics -> event feed."""
import json

import pytest

from edgepose.cli import main
from edgepose.replay import replay
from helpers import make_scene, write_recording


@pytest.fixture
def recording(tmp_path):
    rec = tmp_path / "poses.jsonl"
    n = write_recording(rec, {"hall": make_scene("fall_sideways", 0)[0], "office": make_scene("sit_fast", 0)[0]})
    return rec, n


def test_replay_cli_writes_the_event_feed(recording, tmp_path, capsys):
    rec, n = recording
    out = tmp_path / "events.jsonl"
    assert main(["replay", str(rec), "--events", str(out)]) == 0
    text = capsys.readouterr().out
    assert "replayed %d frames" % n in text and "2 source(s)" in text
    feed = [json.loads(x) for x in out.read_text().splitlines()]
    news = [c["after"] for c in feed if c["type"] == "new"]
    assert [(e["label"], e["source"]) for e in news] == [("fall", "hall")]
    assert set(feed[0]) == {"type", "before", "after"}


def test_replay_is_deterministic(recording, tmp_path):
    rec, _ = recording
    a, b = tmp_path / "a.jsonl", tmp_path / "b.jsonl"
    replay(str(rec), events_path=str(a))
    replay(str(rec), events_path=str(b))
    assert a.read_text() == b.read_text() and a.read_text()


def test_replay_config_thresholds_and_sinks(recording, tmp_path, capsys):
    rec, _ = recording
    feed = tmp_path / "sink.jsonl"
    cfg = tmp_path / "c.yaml"
    cfg.write_text("analytics:\n  fall:\n    enabled: false\nsinks:\n  log:\n    enabled: false\n"
                   "  jsonl:\n    enabled: true\n    path: %s\n" % feed)
    assert main(["replay", str(rec), "--config", str(cfg)]) == 0
    assert "no events" in capsys.readouterr().out
    assert feed.read_text() == ""
    cfg.write_text("analytics:\n  fall:\n    fall_confirm_s: 0.5\nsinks:\n  log:\n    enabled: false\n"
                   "  jsonl:\n    enabled: true\n    path: %s\n" % feed)
    assert main(["replay", str(rec), "--config", str(cfg)]) == 0
    assert [json.loads(x)["after"]["label"] for x in feed.read_text().splitlines()][0] == "fall"


def test_replay_config_errors_name_the_key(recording, tmp_path, capsys):
    rec, _ = recording
    cfg = tmp_path / "bad.yaml"
    cfg.write_text("analytics:\n  fall:\n    long_lie_seconds: 5\n")
    assert main(["replay", str(rec), "--config", str(cfg)]) == 2
    err = capsys.readouterr().err
    assert "analytics.fall.long_lie_seconds" in err and "unknown key" in err


def test_truncated_last_line_is_skipped_bad_lines_are_errors(recording, tmp_path, capsys):
    rec, n = recording
    text = rec.read_text()
    rec.write_text(text + '{"t": 99, "frame"')
    assert replay(str(rec)).frames == n
    rec.write_text('{"t": 1}\n' + text)
    assert main(["replay", str(rec)]) == 2
    assert "%s:1: missing key(s) width, height, people" % rec in capsys.readouterr().err


_GOOD_KP = [[10.0, 20.0, 0.9]] * 18


def _line(t=1.0, kps=None, **extra):
    obj = dict({"t": t, "frame": 0, "source": "cam", "width": 64, "height": 48,
                "people": [{"score": 0.9, "keypoints": kps or _GOOD_KP}]}, **extra)
    return json.dumps(obj)  # writes NaN / Infinity as JSON's non-standard literals, as a buggy writer would


@pytest.mark.parametrize("bad,says", [
    (_line(t=float("inf")), "t is Infinity"),
    (_line(t=float("nan")), "t is NaN"),
    (_line(t="12:00"), "t must be a number"),
    (_line(kps=[[1e300, 20.0, 0.9]] + _GOOD_KP[1:]), "people[0].keypoints[0] is [1e+300, 20.0, 0.9]"),
    (_line(kps=[[4e38, 20.0, 0.9]] + _GOOD_KP[1:]), "coordinates are pixels"),  # float32 overflow
    (_line(kps=_GOOD_KP[:3] + [[1.0, None, 1.0]] + _GOOD_KP[4:]), "keypoints[3] is [1.0, null, 1.0]"),
    (_line(kps=_GOOD_KP[:3] + [[None, 5.0, 0.0]] + _GOOD_KP[4:]), "both null for a missing keypoint"),
    (_line(kps=[[float("-inf"), 2.0, 0.5]] + _GOOD_KP[1:]), "x is -Infinity"),
    (_line(kps=[[1.0, 2.0, float("nan")]] + _GOOD_KP[1:]), "score is NaN"),
    (_line(kps=[[1.0, 2.0]] + _GOOD_KP[1:]), "must be [x, y, s]"),
    (_line(width=-5), "width must be a positive whole number"),
])
def test_replay_rejects_values_that_would_poison_the_analytics(tmp_path, capsys, bad, says):
    rec = tmp_path / "poses.jsonl"
    rec.write_text(_line(t=0.5) + "\n" + bad + "\n" + _line(t=2.0) + "\n")
    assert main(["replay", str(rec)]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "Traceback" not in err, err
    assert err.startswith("edgepose: %s:2: " % rec) or ("%s:2: " % rec) in err.splitlines()[0], err
    assert says in err, err


def test_missing_recording(tmp_path, capsys):
    assert main(["replay", str(tmp_path / "none.jsonl")]) == 1
    assert "recording not found" in capsys.readouterr().err
