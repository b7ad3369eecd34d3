"""``edgepose infer`` with a real pretrained network (../shared/models/tfpose) on real photographs.

The people counts are those listed in ../shared/models/tfpose/README.md for a reasonable
post-processing at 432x368; the decoder finds every one of them exactly (no tolerance).
Skips cleanly when ../shared is absent.
"""
import json
import os

import numpy as np
import pytest

from conftest import shared_path
from edgepose.cli import main

EXPECTED = {
    "p1.jpg": 1, "p2.jpg": 2, "p3.jpg": 3, "p3_dance.png": 4, "ski.jpg": 5, "apink2.jpg": 5, "apink3.jpg": 5,
    "handsup1.jpg": 2, "golf.jpg": 1, "hand2.jpg": 2, "valid_person1.jpg": 1, "cat.jpg": 0,
}


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    """Run ``edgepose infer`` once over the listed images; the profile is guessed from the model."""
    model = shared_path("models", "tfpose", "tfpose_mobilenet_v2_small.onnx")
    images = shared_path("images")
    out = tmp_path_factory.mktemp("infer")
    paths = [os.path.join(images, name) for name in sorted(EXPECTED)]
    code = main(["-q", "infer", *paths, "--model", model, "--json", str(out / "r.json"),
                 "--draw", str(out / "draw"), "--threads", "2"])
    with open(out / "r.json") as f:
        data = json.load(f)
    return code, data, out, paths


def test_people_counts_match_the_readme(run):
    code, data, _, paths = run
    assert code == 0
    counts = {os.path.basename(im["path"]): len(im["people"]) for im in data["images"]}
    assert counts == EXPECTED


def test_json_in_source_pixels(run):
    import cv2

    _, data, _, paths = run
    assert [im["path"] for im in data["images"]] == paths
    for im in data["images"]:
        h, w = cv2.imread(im["path"]).shape[:2]
        assert (im["width"], im["height"]) == (w, h)
        for person in im["people"]:
            assert person["score"] >= 0.3
            kps = person["keypoints"]
            assert len(kps) == 18
            present = [k for k in kps if k[0] is not None]
            assert len(present) >= 4
            for x, y, s in kps:
                if x is None:
                    assert y is None and s == 0
                else:
                    assert -1 <= x <= w and -1 <= y <= h and s > 0
            # a person spans a sensible part of the image (coordinates were mapped back, not left
            # in network pixels): at least one keypoint beyond 432x368 in these large photos
        if im["people"] and (w > 500 or h > 450):
            xs = [k[0] for p in im["people"] for k in p["keypoints"] if k[0] is not None]
            ys = [k[1] for p in im["people"] for k in p["keypoints"] if k[1] is not None]
            assert max(xs) > 432 or max(ys) > 368


def test_overlays_written(run):
    import cv2

    _, data, out, paths = run
    for im in data["images"]:
        drawn = cv2.imread(str(out / "draw" / os.path.basename(im["path"])))
        orig = cv2.imread(im["path"])
        assert drawn is not None and drawn.shape == orig.shape
        changed = np.abs(drawn.astype(int) - orig.astype(int)).max(axis=2) > 40
        if im["people"]:
            assert changed.mean() > 0.001  # skeletons drawn
        elif im["path"].endswith(".png"):
            assert not changed.any()


def test_summary_lines(tfpose_model, capsys):
    image = shared_path("images", "p2.jpg")
    assert main(["-q", "infer", image, "--model", tfpose_model, "--profile", "tf-pose", "--size", "256x320"]) == 0
    line = capsys.readouterr().out.strip()
    assert line.startswith(image + ": ") and ("people" in line or "person" in line) and "decode" in line


def test_json_to_stdout(tfpose_model, capsys):
    image = shared_path("images", "p1.jpg")
    assert main(["-q", "infer", image, "--model", tfpose_model, "--json", "-"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert len(data["images"]) == 1 and len(data["images"][0]["people"]) == 1


def test_unreadable_image_is_one_clear_line(tfpose_model, tmp_path, capsys):
    bad = tmp_path / "broken.jpg"
    bad.write_bytes(b"not an image at all")
    assert main(["infer", str(bad), "--model", tfpose_model]) == 1
    err = capsys.readouterr().err.strip().splitlines()
    assert err[-1].startswith("edgepose: error: ") and "broken.jpg: cannot read" in err[-1]
    assert not any("Traceback" in line for line in err)


def test_missing_image_and_model(tmp_path, capsys, monkeypatch):
    assert main(["infer", str(tmp_path / "nope.jpg"), "--model", "x.onnx"]) == 1
    assert "nope.jpg: no such image" in capsys.readouterr().err
    img = tmp_path / "a.png"
    import cv2

    cv2.imwrite(str(img), np.zeros((20, 20, 3), np.uint8))
    assert main(["infer", str(img), "--model", str(tmp_path / "missing.onnx"), "--profile", "tf-pose"]) == 1
    assert "missing.onnx" in capsys.readouterr().err
    import edgepose.models as models

    monkeypatch.setattr(models, "bundled_model", lambda: (None, None))
    assert main(["infer", str(img)]) == 2
    assert "--model" in capsys.readouterr().err


def test_tao_layout_model_end_to_end(tmp_path, capsys):
    """A BodyPoseNet-shaped ONNX (two outputs: heatmap stride 8, PAF stride 2; random weights):
    the whole path (letterbox preprocessing, ONNX Runtime, decoding at two strides, JSON, overlay)."""
    import cv2

    from tiny_bpnet import make_tiny_bpnet

    model = tmp_path / "tiny.onnx"
    make_tiny_bpnet(str(model), size=(64, 96))
    img = tmp_path / "frame.jpg"
    cv2.imwrite(str(img), np.random.default_rng(0).integers(0, 255, (120, 200, 3), dtype=np.uint8))
    out = tmp_path / "r.json"
    assert main(["-q", "infer", str(img), "--model", str(model), "--profile", "tao-bpnet", "--size", "64x96",
                 "--json", str(out), "--draw", str(tmp_path / "draw")]) == 0
    data = json.loads(out.read_text())
    (im,) = data["images"]
    assert (im["width"], im["height"]) == (200, 120) and isinstance(im["people"], list)
    assert cv2.imread(str(tmp_path / "draw" / "frame.jpg")).shape == (120, 200, 3)
    assert "frame.jpg: " in capsys.readouterr().out


def test_draw_people_in_place():
    from edgepose.synth.figures import skeleton
    from edgepose.draw import draw_people
    from edgepose.topology import KP
    from edgepose.types import Person

    img = np.zeros((240, 320, 3), np.uint8)
    kps = skeleton(160, 130, 180)
    kps[:, 2] = 0.9
    kps[KP["l_wrist"]] = (np.nan, np.nan, 0)
    out = draw_people(img, [Person(kps, 1.2), kps])  # a Person or a bare (18, 3) array
    assert out is img
    for k in range(18):
        x, y = kps[k, :2]
        if np.isfinite(x):
            assert img[int(round(y)), int(round(x))].any(), "keypoint %d not drawn" % k
    assert img.any(axis=2).mean() < 0.2  # skeleton lines, not a filled image
