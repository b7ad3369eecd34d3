"""Image datasets with posture: still scenes and held-out frames of the scenario clips (edgepose synth images)."""
import json

import numpy as np
import pytest

cv2 = pytest.importorskip("cv2")

from edgepose.cli import main  # noqa: E402
from edgepose.synth import SCENARIOS, generate_sequence, render_sequence  # noqa: E402
from edgepose.synth.clip import render_frames  # noqa: E402
from edgepose.synth.dataset import POSTURE, POSTURES, write_images  # noqa: E402
from edgepose.synth.motion import ACTIVITIES  # noqa: E402
from edgepose.synth.poses import KINDS  # noqa: E402


def test_every_pose_family_and_activity_has_a_posture():
    assert set(KINDS) | set(ACTIVITIES) == set(POSTURE)
    assert set(POSTURE.values()) == set(POSTURES)
    assert POSTURE["fallen"] == POSTURE["lie"] == "lying" and POSTURE["walking"] == "upright"


def test_still_scene_annotations_carry_activity_and_posture(tmp_path):
    path = write_images(str(tmp_path), 8, seed=5, size=(96, 128), ext="png")
    anns = json.load(open(path))["annotations"]
    assert anns
    for a in anns:
        assert a["activity"] in KINDS and a["posture"] == POSTURE[a["activity"]]


def test_render_frames_draws_the_same_images_as_the_whole_clip():
    seq = generate_sequence("fall_sideways", 11, fps=5.0, size=(72, 96), duration=4.0)
    every = list(render_sequence(seq))
    some = list(render_frames(seq, [3, 9, 17]))
    assert [i for i, _ in some] == [3, 9, 17]
    for i, scene in some:
        assert np.array_equal(scene.image, every[i])
        labels = set(seq.frames[i]["activity"].values())
        assert set(scene.kinds) <= labels and len(scene) <= len(seq.frames[i]["people"])


def test_scenario_frames_command(tmp_path):
    names = list(SCENARIOS)
    rc = main(["-q", "synth", "images", "--scenarios", "--count", "7", "--per-clip", "3", "--seed", "950000004",
               "--size", "72x96", "--format", "png", "--out", str(tmp_path)])
    assert rc == 0
    data = json.loads((tmp_path / "annotations.json").read_text())
    images = data["images"]
    assert len(images) == 7 and data["info"]["per_clip"] == 3
    # 3 frames of the first scenario, 3 of the second, 1 of the third, all with sequence seed SEED + 0
    assert [im["scenario"] for im in images] == [names[0]] * 3 + [names[1]] * 3 + [names[2]]
    assert {im["sequence_seed"] for im in images} == {950000004}
    assert all(im["width"] == 96 and im["height"] == 72 for im in images)
    frames = [im["frame"] for im in images[:3]]
    assert frames == sorted(set(frames))
    anns = data["annotations"]
    assert anns and all(a["posture"] in POSTURES and a["activity"] in ACTIVITIES for a in anns)
    assert cv2.imread(str(tmp_path / images[0]["file_name"])).shape == (72, 96, 3)
    # the truth agrees with the clip's own JSONL ground truth for that frame
    seq = generate_sequence(names[0], 950000004, size=(72, 96))
    first = images[0]
    truth = seq.frames[first["frame"]]["people"]
    got = [a for a in anns if a["image_id"] == first["id"]]
    assert len(got) <= len(truth)
    for a in got:
        kp = np.array(a["keypoints"], float).reshape(18, 3)
        lab = kp[:, 2] > 0
        best = min(np.nanmax(np.abs(np.array([[np.nan if v is None else v for v in r[:2]]
                                               for r in p["keypoints"]], float)[lab] - kp[lab, :2]))
                   for p in truth)
        assert best < 0.02


def test_scenario_frames_bad_options_are_usage_errors(tmp_path, capsys):
    assert main(["synth", "images", "--scenarios", "--per-clip", "0", "--out", str(tmp_path)]) == 2
    assert main(["synth", "images", "--scenarios", "--ir", "always", "--out", str(tmp_path)]) == 2
    assert "--per-clip" in capsys.readouterr().err

