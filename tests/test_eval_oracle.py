"""Diagnosis in eval: person recall by height and posture, the oracle (ground-truth maps through the decoder)."""
import json

import numpy as np
import pytest

from edgepose.cli import main
from edgepose.errors import InputError
from edgepose.evaluate import CocoKeypoints, Detection, evaluate, format_table, oracle_detections
from edgepose.profiles import load_profile
from edgepose.synth.figures import crowd
from edgepose.topology import COCO17, COCO17_FROM_BPNET, KEYPOINTS, KP

COCO17_NAMES = ["left_" + n[2:] if n.startswith("l_") else "right_" + n[2:] if n.startswith("r_") else n
                for n in COCO17]


def coco_of(people_per_image, size, k=18, postures=None):
    """A COCO dict for (N, 18, 3) people per image (source pixels); bbox/area from the keypoints."""
    h, w = size
    names = list(KEYPOINTS) if k == 18 else COCO17_NAMES
    data = {"images": [], "annotations": [],
            "categories": [{"id": 1, "name": "person", "keypoints": names, "skeleton": []}]}
    for iid, people in enumerate(people_per_image, 1):
        data["images"].append({"id": iid, "file_name": "%d.png" % iid, "width": w, "height": h})
        for p in people:
            kp = np.array(p, dtype=np.float64)
            kp = kp if k == 18 else kp[COCO17_FROM_BPNET]
            x0, y0 = kp[:, :2].min(axis=0)
            x1, y1 = kp[:, :2].max(axis=0)
            ann = {"id": len(data["annotations"]) + 1, "image_id": iid, "category_id": 1,
                   "keypoints": kp.ravel().tolist(), "num_keypoints": int((kp[:, 2] > 0).sum()),
                   "bbox": [x0, y0, x1 - x0, y1 - y0], "area": (x1 - x0) * (y1 - y0), "iscrowd": 0}
            if postures:
                ann["posture"] = postures[len(data["annotations"])]
            data["annotations"].append(ann)
    return data


def test_recall_by_height_and_posture():
    # four people 40, 90, 150 and 200 px tall; the detector finds the 2nd and the 4th exactly
    people = [crowd(1, (300, 400), seed=s)[0] for s in range(4)]
    for p, height in zip(people, (40.0, 90.0, 150.0, 200.0)):
        y = p[:, 1]
        p[:, 1] = (y - y.min()) / (y.max() - y.min()) * height + 20
    postures = ["upright", "lying", "sitting", "lying"]
    data = coco_of([people[:2], people[2:]], (300, 400), postures=postures)
    coco = CocoKeypoints(data)
    dets = [Detection(1, people[1], 0.9), Detection(2, people[3], 0.8)]
    m = evaluate(coco, dets)
    assert m["recall_by_height"] == {"< 60 px": {"people": 1, "recall": 0.0},
                                     "60-120 px": {"people": 1, "recall": 1.0},
                                     ">= 120 px": {"people": 2, "recall": 0.5}}
    assert list(m["recall_by_posture"]) == ["upright", "sitting", "lying"]
    assert m["recall_by_posture"]["lying"] == {"people": 2, "recall": 1.0}
    assert m["recall_by_posture"]["upright"]["recall"] == 0.0
    assert m["AR50"] == pytest.approx(0.5)
    # a file without postures: no posture breakdown, the same AP
    plain = evaluate(CocoKeypoints(coco_of([people[:2], people[2:]], (300, 400))), dets)
    assert "recall_by_posture" not in plain and plain["AP"] == m["AP"]
    table = format_table(m, plain)
    assert "lying (2 people)" in table and "oracle" in table and "60-120 px (1 people)" in table


def test_truth18_adds_the_neck_to_a_17_keypoint_file():
    p = crowd(2, (300, 400), seed=1)
    p[1, KP["l_shoulder"], 2] = 0
    p[0, KP["r_shoulder"], 2] = 1
    coco = CocoKeypoints(coco_of([p], (300, 400), k=17))
    t = coco.truth18(1)
    want = (p[0, KP["r_shoulder"], :2] + p[0, KP["l_shoulder"], :2]) / 2
    np.testing.assert_allclose(t[0, KP["neck"]], [want[0], want[1], 1.0], atol=1e-4)
    assert t[1, KP["neck"], 2] == 0 and np.isnan(t[1, KP["neck"], 0])
    assert t[1, KP["l_shoulder"], 2] == 0 and np.isnan(t[1, KP["l_shoulder"], :2]).all()


@pytest.mark.parametrize("name,k", [("tao-bpnet", 18), ("edgepose-demo", 18), ("tf-pose", 18), ("tao-bpnet", 17)])
def test_oracle_finds_clean_people_exactly(name, k):
    # source images of another size than the network's: letterbox (TAO) or stretch (tf-pose) both ways
    size = (360, 500)
    images = [crowd(n, size, seed=n) for n in (1, 3, 5)]
    coco = CocoKeypoints(coco_of(images, size, k=k))
    m = evaluate(coco, oracle_detections(coco, load_profile(name)))
    assert m["people"] == 9 and m["detections"] == 9
    assert m["AP"] == pytest.approx(1.0) and m["AR"] == pytest.approx(1.0)


def test_oracle_needs_image_sizes():
    data = coco_of([crowd(1, (100, 100))], (100, 100))
    del data["images"][0]["width"]
    with pytest.raises(InputError, match="width/height"):
        oracle_detections(CocoKeypoints(data, source="x.json"), load_profile("tao-bpnet"))


def test_eval_command_oracle_only_and_side_by_side(tmp_path, capsys):
    pytest.importorskip("cv2")
    out = tmp_path / "set"
    assert main(["-q", "synth", "images", "--count", "3", "--seed", "4", "--size", "96x128", "--out", str(out)]) == 0
    ann = str(out / "annotations.json")
    capsys.readouterr()
    # the oracle alone: no model run, no image read
    assert main(["-q", "eval", "--coco", ann, "--oracle-only", "--profile", "edgepose-demo",
                 "--json", str(tmp_path / "o.json")]) == 0
    text = capsys.readouterr().out
    assert "oracle" in text.splitlines()[0] and "model" not in text.splitlines()[0]
    assert "by posture" in text
    got = json.loads((tmp_path / "o.json").read_text())
    assert set(got) == {"oracle"} and got["oracle"]["people"] > 0
    # the bundled model and the oracle side by side
    assert main(["-q", "eval", "--coco", ann, "--images", str(out), "--oracle", "--threads", "1",
                 "--json", str(tmp_path / "m.json")]) == 0
    head = capsys.readouterr().out.splitlines()[0].split()
    assert head == ["metric", "model", "oracle"]
    both = json.loads((tmp_path / "m.json").read_text())
    assert "AP" in both and "recall_by_posture" in both and both["oracle"]["AP"] >= both["AP"]


def test_eval_command_needs_images_unless_oracle_only(tmp_path, capsys):
    data = coco_of([crowd(1, (100, 100))], (100, 100))
    p = tmp_path / "a.json"
    p.write_text(json.dumps(data))
    assert main(["eval", "--coco", str(p)]) == 2
    assert "--images" in capsys.readouterr().err
