"""Synthetic sequences: scenario ground truth (falls, timing, schema), rendering and the clip command."""
import json

import numpy as np
import pytest

cv2 = pytest.importorskip("cv2")

from edgepose.cli import main  # noqa: E402
from edgepose.errors import UsageError  # noqa: E402
from edgepose.synth import ACTIVITIES, SCENARIOS, generate_sequence, render_sequence  # noqa: E402

REQUIRED = ("walking", "standing", "sit_chair", "bend_pick", "crouch", "lie_bed", "lie_floor_slow", "fall_forward",
            "fall_backward", "fall_sideways", "fall_from_sitting", "slide_wall", "fall_recover",
            "fall_toward_camera", "crossing", "sit_fast", "mixed")
FPS = 10.0


def _spans(seq, track, label):
    """(first t, last t) of each run of frames where ``track`` has ``label``."""
    out, start, last = [], None, None
    for f in seq.frames:
        on = f["activity"].get(str(track)) == label
        if on and start is None:
            start = f["t"]
        if not on and start is not None:
            out.append((start, last))
            start = None
        last = f["t"]
    if start is not None:
        out.append((start, last))
    return out


def test_all_required_scenarios_exist():
    for name in REQUIRED:
        sc = SCENARIOS[name]
        assert sc.name == name and sc.description
    assert SCENARIOS["mixed"].falls and SCENARIOS["slide_wall"].falls
    assert not SCENARIOS["sit_fast"].falls and not SCENARIOS["lie_floor_slow"].falls
    with pytest.raises(UsageError):
        generate_sequence("no_such_scenario", 0)


@pytest.mark.parametrize("name", REQUIRED)
def test_sequence_schema_and_fall_truth(name):
    seq = generate_sequence(name, 5, fps=FPS, size=(288, 384))
    assert 8.0 <= seq.duration <= 20.0 + 1e-6
    ids = set()
    for i, f in enumerate(seq.frames):
        assert set(f) == {"t", "frame", "source", "width", "height", "people", "activity"}
        assert f["frame"] == i and abs(f["t"] - i / FPS) < 1e-3
        assert (f["width"], f["height"]) == (384, 288)
        for p in f["people"]:
            assert p["score"] == 1.0 and len(p["keypoints"]) == 18
            for x, y, s in p["keypoints"]:
                assert (x is None) == (y is None) == (s == 0)
                if s:
                    assert s == 1.0 and -0.5 <= x < 383.5 and -0.5 <= y < 287.5
            ids.add(p["track_id"])
        assert set(f["activity"]) == {str(p["track_id"]) for p in f["people"]}
        assert set(f["activity"].values()) <= set(ACTIVITIES)
    json.dumps(seq.frames[0])  # plain JSON types
    lo, hi = SCENARIOS[name].people
    assert ids and len(ids) <= hi
    if SCENARIOS[name].falls:
        assert len(seq.truth) >= 1
        for e in seq.truth:
            assert set(e) == {"track_id", "label", "start_t", "impact_t", "end_t"}
            assert e["label"] == "fall" and e["track_id"] in ids
            assert 1.0 <= e["start_t"] < e["impact_t"] <= seq.duration
            assert e["end_t"] is None or e["end_t"] > e["impact_t"]
            falling = _spans(seq, e["track_id"], "falling")
            assert falling and abs(falling[0][0] - e["start_t"]) <= 1.0 / FPS + 1e-6
    else:
        assert seq.truth == []
        assert all("falling" not in f["activity"].values() for f in seq.frames)


def test_fall_timings_are_physically_plausible():
    for name in ("fall_forward", "fall_backward", "fall_sideways", "fall_toward_camera"):
        for seed in range(3):
            e = generate_sequence(name, seed, fps=FPS).truth[0]
            assert 0.45 <= e["impact_t"] - e["start_t"] <= 1.6, (name, seed, e)
            assert e["start_t"] >= 2.0 and e["end_t"] is None
    slide = generate_sequence("slide_wall", 0, fps=FPS).truth[0]
    assert slide["impact_t"] - slide["start_t"] >= 2.0
    rec = generate_sequence("fall_recover", 0, fps=FPS)
    e = rec.truth[0]
    assert e["end_t"] is not None and e["end_t"] > e["impact_t"] + 1.0
    assert rec.frames[-1]["activity"][str(e["track_id"])] in ("standing", "walking")


def test_slow_lying_down_and_fast_sitting_are_not_falls():
    seq = generate_sequence("lie_floor_slow", 1, fps=FPS)
    down = _spans(seq, 1, "lying_down")
    assert down and down[0][1] - down[0][0] >= 4.0  # several seconds
    assert seq.frames[-1]["activity"]["1"] == "lying"
    fast = generate_sequence("sit_fast", 1, fps=FPS)
    sd = _spans(fast, 1, "sitting_down")
    assert sd and sd[0][1] - sd[0][0] <= 1.0
    assert fast.truth == []


def test_fall_toward_camera_mostly_shrinks_vertically():
    ratios = []
    for seed in range(6):
        seq = generate_sequence("fall_toward_camera", seed, fps=FPS)
        e = seq.truth[0]

        def box(t):
            f = min(seq.frames, key=lambda fr: abs(fr["t"] - t))
            kp = np.array([[np.nan if v is None else v for v in k[:2]] for k in f["people"][0]["keypoints"]],
                          dtype=float)
            return np.nanmax(kp, 0) - np.nanmin(kp, 0)

        before, after = box(e["start_t"] - 0.2), box(e["impact_t"] + 0.5)
        ratios.append(after[1] / before[1])
        assert after[1] < 0.9 * before[1]                 # shorter in the image
        assert after[0] < 2.0 * before[0] + 10            # but not turned into a wide box
    assert np.mean(ratios) < 0.7


def test_bed_is_an_exclusion_zone():
    seq = generate_sequence("lie_bed", 2, fps=FPS)
    assert len(seq.zones) == 1
    z = seq.zones[0]
    assert z["name"] == "bed" and z["role"] == "exclude" and len(z["polygon"]) >= 4
    poly = np.array(z["polygon"], np.float32)
    last = seq.frames[-1]["people"][0]["keypoints"]
    hip = np.array(last[8][:2] if last[8][0] is not None else last[11][:2], np.float32)
    assert cv2.pointPolygonTest(poly, (float(hip[0]), float(hip[1])), False) >= 0  # lying on the bed


def test_sequences_are_deterministic():
    a = generate_sequence("mixed", 9, fps=FPS)
    b = generate_sequence("mixed", 9, fps=FPS)
    c = generate_sequence("mixed", 10, fps=FPS)
    assert json.dumps(a.frames) == json.dumps(b.frames) and a.truth == b.truth
    assert json.dumps(a.frames) != json.dumps(c.frames)
    fa = list(render_sequence(generate_sequence("fall_forward", 3, fps=5.0, size=(72, 96), duration=2.0)))
    fb = list(render_sequence(generate_sequence("fall_forward", 3, fps=5.0, size=(72, 96), duration=2.0)))
    assert len(fa) == 10 and all(np.array_equal(x, y) for x, y in zip(fa, fb))
    assert fa[0].shape == (72, 96, 3) and fa[0].dtype == np.uint8


def test_rendered_frames_show_the_people_where_the_truth_says():
    seq = generate_sequence("walking", 4, fps=5.0, size=(144, 192), duration=3.0)
    clean = list(render_sequence(seq, effects=False))
    from edgepose.synth.scene import render_world
    empty = render_world(seq.world, []).image
    hits = total = 0
    for img, f in zip(clean, seq.frames):
        for p in f["people"]:
            for k in (1, 2, 5, 8, 11):  # neck, shoulders, hips: rarely hidden while walking
                x, y, s = p["keypoints"][k]
                if s:
                    total += 1
                    hits += int(np.abs(img[int(round(y)), int(round(x))].astype(int)
                                       - empty[int(round(y)), int(round(x))].astype(int)).sum() > 0)
    assert total > 20 and hits / total > 0.9


def test_clip_command_writes_video_and_jsonl(tmp_path, capsys):
    assert main(["synth", "clip", "--list"]) == 0
    out = capsys.readouterr().out
    for name in REQUIRED:
        assert name in out
    video = tmp_path / "clip.mp4"
    rc = main(["-q", "synth", "clip", "--scenario", "fall_forward", "--seed", "2", "--fps", "8",
               "--size", "96x128", "--duration", "3", "--out", str(video)])
    assert rc == 0
    lines = (tmp_path / "clip.jsonl").read_text().splitlines()
    assert len(lines) == 24
    first = json.loads(lines[0])
    assert first["width"] == 128 and first["height"] == 96 and "activity" in first
    cap = cv2.VideoCapture(str(video))
    n = 0
    while True:
        ok, frame = cap.read()
        if not ok:
            break
        assert frame.shape == (96, 128, 3)
        n += 1
    cap.release()
    assert n == len(lines)
    truth = json.loads((tmp_path / "clip.truth.json").read_text())
    assert truth["scenario"] == "fall_forward" and truth["frames"] == 24
    assert main(["-q", "synth", "clip", "--scenario", "nope", "--out", str(video)]) == 2


def test_images_command(tmp_path):
    rc = main(["-q", "synth", "images", "--count", "3", "--seed", "1", "--size", "64x80", "--out", str(tmp_path)])
    assert rc == 0
    data = json.loads((tmp_path / "annotations.json").read_text())
    assert len(data["images"]) == 3 and data["categories"][0]["keypoints"][1] == "neck"
