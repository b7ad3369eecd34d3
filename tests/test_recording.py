"""Pose recordings (``--record``): the JSONL schema and its round trip through Person.from_json."""
import json

import numpy as np
import pytest

from edgepose.errors import InputError
from edgepose.pipeline import FrameResult
from edgepose.recording import RecordingWriter, read_recording, record_line
from edgepose.types import Frame, Person


def person(seed, missing=(3, 17)):
    rng = np.random.default_rng(seed)
    k = np.column_stack([rng.uniform(0, 640, 18), rng.uniform(0, 480, 18), rng.uniform(0.1, 1, 18)]).astype(np.float32)
    k[list(missing)] = [np.nan, np.nan, 0]
    return Person(k, score=0.8123456, track_id=seed)


def test_schema_of_a_line():
    obj = json.loads(record_line(12.5, 7, "cam0", 640, 480, [person(1)]))
    assert set(obj) == {"t", "frame", "source", "width", "height", "people"}
    assert (obj["t"], obj["frame"], obj["source"], obj["width"], obj["height"]) == (12.5, 7, "cam0", 640, 480)
    p = obj["people"][0]
    assert len(p["keypoints"]) == 18 and p["keypoints"][3] == [None, None, 0] and p["track_id"] == 1
    assert all(len(k) == 3 for k in p["keypoints"])


def test_round_trip(tmp_path):
    path = tmp_path / "poses.jsonl"
    people = [[person(1), person(2, missing=())], [], [person(3)]]
    with RecordingWriter(path) as w:
        for i, ps in enumerate(people):
            frame = Frame(np.zeros((480, 640, 3), np.uint8), 100.0 + i / 15, i, "clip.mp4")
            w.write(FrameResult(frame, ps, [], {}))
    recs = list(read_recording(path))
    assert [r.frame for r in recs] == [0, 1, 2] and recs[2].t == pytest.approx(100.0 + 2 / 15, abs=1e-6)
    assert all((r.width, r.height, r.source) == (640, 480, "clip.mp4") for r in recs)
    for rec, ps in zip(recs, people):
        assert len(rec.people) == len(ps)
        for a, b in zip(rec.people, ps):
            np.testing.assert_array_equal(np.isnan(a.keypoints), np.isnan(b.keypoints))
            np.testing.assert_allclose(a.keypoints, b.keypoints, atol=0.01, equal_nan=True)
            assert a.score == pytest.approx(b.score, abs=1e-4) and a.track_id == b.track_id


def test_truncated_last_line_is_skipped_but_bad_middle_line_is_an_error(tmp_path):
    path = tmp_path / "p.jsonl"
    good = record_line(1.0, 0, "s", 10, 10, [person(4)])
    path.write_text(good + "\n" + good[: len(good) // 2])       # power cut mid-line
    assert len(list(read_recording(path))) == 1
    path.write_text(good + "\n" + '{"t": 1}\n' + good + "\n")
    with pytest.raises(InputError, match="p.jsonl:2"):
        list(read_recording(path))


def test_extra_keys_are_kept(tmp_path):
    path = tmp_path / "truth.jsonl"
    obj = json.loads(record_line(0.0, 0, "synth", 10, 10, []))
    obj["activity"] = "walk"
    path.write_text(json.dumps(obj) + "\n")
    assert next(read_recording(path)).extra == {"activity": "walk"}


def test_missing_folder_is_a_clear_error(tmp_path):
    with pytest.raises(InputError, match="does not exist"):
        RecordingWriter(tmp_path / "nope" / "p.jsonl")
