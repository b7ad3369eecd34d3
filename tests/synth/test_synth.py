"""Synthetic still scenes: contract, determinism, ground truth that agrees with the pixels, COCO export."""
import json
import os

import numpy as np
import pytest

cv2 = pytest.importorskip("cv2")

from edgepose.synth import render_scene, write_images  # noqa: E402
from edgepose.synth.render import OWNERS, PART, Look  # noqa: E402
from edgepose.synth.scene import Actor, Prop, World, render_world  # noqa: E402
from edgepose.synth.camera import Camera  # noqa: E402
from edgepose.synth.skeleton import P, Body  # noqa: E402
from edgepose.synth import poses  # noqa: E402
from edgepose.topology import KEYPOINTS, KP  # noqa: E402

SIZE = (288, 384)


def _same(a, b):
    return (np.array_equal(a.image, b.image) and np.array_equal(a.keypoints, b.keypoints, equal_nan=True)
            and np.array_equal(a.boxes, b.boxes))


def test_scene_matches_the_contract():
    people = 0
    for seed in range(12):
        s = render_scene(seed, size=SIZE)
        assert s.image.shape == SIZE + (3,) and s.image.dtype == np.uint8
        n = len(s)
        people += n
        assert 0 <= n <= 6
        assert s.keypoints.shape == (n, 18, 3) and s.keypoints.dtype == np.float32
        assert s.boxes.shape == (n, 4) and s.boxes.dtype == np.float32
        v = s.keypoints[..., 2]
        assert set(np.unique(v).tolist()) <= {0.0, 1.0, 2.0}
        assert np.isnan(s.keypoints[..., 0][v == 0]).all() and np.isnan(s.keypoints[..., 1][v == 0]).all()
        xy = s.keypoints[..., :2][v > 0]
        assert np.isfinite(xy).all()
        assert (xy[:, 0] >= -0.5).all() and (xy[:, 0] < SIZE[1] - 0.5).all()
        assert (xy[:, 1] >= -0.5).all() and (xy[:, 1] < SIZE[0] - 0.5).all()
        assert (s.boxes[:, 0] <= s.boxes[:, 2]).all() and (s.boxes[:, 1] <= s.boxes[:, 3]).all()
        assert (v > 0).any(axis=1).all()  # nobody without a single labelled keypoint
    assert people > 20


def test_scene_is_deterministic_per_seed():
    a, b = render_scene(42, size=SIZE), render_scene(42, size=SIZE)
    assert _same(a, b)
    c = render_scene(43, size=SIZE)
    assert not np.array_equal(a.image, c.image)
    # other sizes and options work and stay deterministic
    d1 = render_scene(7, size=(96, 128), num_people=3, ir=True, effects=False)
    d2 = render_scene(7, size=(96, 128), num_people=3, ir=True, effects=False)
    assert _same(d1, d2) and d1.image.shape == (96, 128, 3)
    assert np.array_equal(d1.image[..., 0], d1.image[..., 1])  # IR-like frames are grey


def test_visible_keypoints_lie_on_their_own_person():
    checked = 0
    for seed in range(10):
        s = render_scene(seed, size=SIZE, with_labels=True)
        owner = s.labels >> 4
        for n in range(len(s)):
            kp = s.keypoints[n]
            vis = kp[:, 2] == 2
            xs = np.round(kp[vis, 0]).astype(int)
            ys = np.round(kp[vis, 1]).astype(int)
            assert (owner[ys, xs] == n + 1).all()
            # the visible box holds every visible keypoint
            x0, y0, x1, y1 = s.boxes[n]
            assert (xs >= x0).all() and (xs <= x1).all() and (ys >= y0).all() and (ys <= y1).all()
            # occluded keypoints are covered by something else than the parts they belong to
            # occluded keypoints are covered by something other than the parts they join
            for k in np.flatnonzero(kp[:, 2] == 1):
                lab = int(s.labels[int(round(kp[k, 1])), int(round(kp[k, 0]))])
                mine = {n + 1 << 4 | PART[o] for o in OWNERS[KEYPOINTS[k]]}
                assert lab not in mine
            checked += int(vis.sum())
    assert checked > 200


def _figure_world(seed=0, size=(240, 200)):
    w = World.random(np.random.default_rng(seed), size, ir=False, effects=False, furnish=False)
    w.camera = Camera(size, 260.0, 1.5, np.radians(10))
    w.effects.update(gradient=0.0, light=1.0)
    return w


def _actor(yaw_deg, kind="stand", z=-3.0, seed=1):
    rng = np.random.default_rng(seed)
    pose = poses.make_pose(kind, rng)
    pose[P["yaw"]] = np.radians(yaw_deg)
    pose[P["z"]] = z
    return Actor(Body(), Look.random(rng), pose, kind)


def test_person_pixels_differ_from_the_empty_room_at_visible_keypoints():
    """Pixel evidence without the label image: the person changes the picture where GT says it is."""
    hits = total = 0
    for seed in range(8):
        w = _figure_world(seed)
        kinds = ["stand", "walk", "sit_floor", "lie", "bend", "crouch", "kneel", "reach"]
        a = _actor(45 * seed, kinds[seed], seed=seed)
        empty = render_world(w, []).image.astype(int)
        s = render_world(w, [a])
        for x, y, v in s.keypoints[0]:
            if v == 2:
                total += 1
                hits += int(np.abs(s.image[int(round(y)), int(round(x))].astype(int)
                                   - empty[int(round(y)), int(round(x))]).sum() > 0)
    assert total > 60 and hits / total > 0.97


def test_views_front_back_and_left_right():
    w = _figure_world()
    front = render_world(w, [_actor(0)]).keypoints[0]
    back = render_world(w, [_actor(180)]).keypoints[0]
    # facing the camera, the person's left is on the image's right
    assert front[KP["l_shoulder"], 0] > front[KP["r_shoulder"], 0]
    assert front[KP["l_hip"], 0] > front[KP["r_hip"], 0]
    assert back[KP["l_shoulder"], 0] < back[KP["r_shoulder"], 0]
    # the face is labelled from the front, not from behind (where only the ears show)
    for k in ("nose", "l_eye", "r_eye"):
        assert front[KP[k], 2] == 2 and back[KP[k], 2] == 0
    assert back[KP["l_ear"], 2] > 0 and back[KP["r_ear"], 2] > 0
    # facing the image's right, it shows its right side: the left eye and ear turn away
    side = render_world(w, [_actor(90)]).keypoints[0]
    assert side[KP["r_eye"], 2] > 0 and side[KP["l_eye"], 2] == 0 and side[KP["l_ear"], 2] == 0
    assert side[KP["nose"], 0] > side[KP["r_ear"], 0]


def test_an_object_in_front_occludes_keypoints():
    w = _figure_world()
    a = _actor(0, z=-3.5)
    free = render_world(w, [a])
    table = Prop("clutter", np.array([0.0, 0.0, -2.5]), 0.0,
                 [(np.array([0.0, 0.45, -2.5]), np.array([1.5, 0.9, 0.4]), (40, 90, 160))], top=0.9)
    w.props.append(table)
    hidden = render_world(w, [a])
    legs = [KP[k] for k in ("l_knee", "r_knee", "l_ankle", "r_ankle")]
    assert (free.keypoints[0, legs, 2] == 2).all()
    assert (hidden.keypoints[0, legs, 2] == 1).all()
    assert hidden.keypoints[0, KP["nose"], 2] == 2
    assert hidden.boxes[0, 3] < free.boxes[0, 3]  # the visible box ends above the table top


def test_many_scenes_have_lying_sitting_and_bending_people():
    kinds = []
    for seed in range(40):
        kinds += render_scene(seed, size=(96, 128)).kinds
    for k in ("lie", "sit_chair", "bend", "walk", "stand"):
        assert k in kinds
    low = sum(k in ("lie", "sit_chair", "sit_floor", "bend", "crouch", "kneel", "fall") for k in kinds)
    assert low / len(kinds) > 0.3


def test_coco_export_loads_in_pycocotools(tmp_path):
    coco_mod = pytest.importorskip("pycocotools.coco")
    path = write_images(str(tmp_path), 6, seed=3, size=(96, 128), ext="png")
    assert os.path.basename(path) == "annotations.json"
    data = json.load(open(path))
    cat = data["categories"][0]
    assert cat["keypoints"] == list(KEYPOINTS) and "neck" in cat["keypoints"]
    assert all(1 <= a <= 18 and 1 <= b <= 18 for a, b in cat["skeleton"])
    for ann in data["annotations"]:
        kp = np.array(ann["keypoints"], dtype=float).reshape(18, 3)
        assert ann["num_keypoints"] == int((kp[:, 2] > 0).sum()) > 0
        assert (kp[kp[:, 2] == 0, :2] == 0).all()
        assert ann["iscrowd"] == 0 and ann["area"] > 0 and ann["bbox"][2] > 0
    coco = coco_mod.COCO(path)
    assert len(coco.getImgIds()) == 6
    for img in data["images"]:
        im = cv2.imread(os.path.join(str(tmp_path), img["file_name"]))
        assert im.shape == (96, 128, 3)
    # the annotations scored against themselves give a perfect AP
    cocoeval = pytest.importorskip("pycocotools.cocoeval")
    dets = [dict(image_id=a["image_id"], category_id=1, keypoints=a["keypoints"], score=1.0)
            for a in data["annotations"]]
    ev = cocoeval.COCOeval(coco, coco.loadRes(dets), "keypoints")
    ev.params.kpt_oks_sigmas = np.full(18, 0.079)
    ev.evaluate()
    ev.accumulate()
    ev.summarize()
    assert ev.stats[0] > 0.99
