"""edgepose calib collect: distinct frames from a video or an image folder, near-duplicates skipped."""
import os

import cv2
import numpy as np
import pytest

from edgepose.engine.calibrator import CalibrationSet
from edgepose.engine.calibset import collect
from edgepose.errors import UsageError
from tiny_bpnet import make_images


def _video(path, frames):
    w = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"MJPG"), 10.0, (160, 120))
    if not w.isOpened():
        pytest.skip("this OpenCV cannot write MJPG AVI")
    for f in frames:
        w.write(f)
    w.release()
    return str(path)


def test_collect_from_video_skips_near_duplicates(tmp_path):
    rng = np.random.default_rng(0)
    distinct = [rng.integers(0, 255, (120, 160, 3), dtype=np.uint8) for _ in range(4)]
    frames = []
    for img in distinct:
        frames += [img] * 5  # 5 identical frames each
    video = _video(tmp_path / "v.avi", frames)
    rep = collect(video, str(tmp_path / "out"), count=10)
    assert rep["written"] == 4 and rep["duplicates"] == 16 and rep["seen"] == 20
    files = sorted(os.listdir(tmp_path / "out"))
    assert files == ["calib_%05d.jpg" % i for i in range(4)]
    assert cv2.imread(str(tmp_path / "out" / files[0])).shape == (120, 160, 3)


def test_collect_from_folder_stops_at_count(tmp_path):
    make_images(tmp_path / "src", count=6)
    rep = collect(str(tmp_path / "src"), str(tmp_path / "out"), count=3)
    assert rep["written"] == 3
    with pytest.raises(UsageError):
        collect(str(tmp_path / "src"), str(tmp_path / "o2"), count=0)


def test_calib_cli(tmp_path, capsys):
    from edgepose.cli import main

    make_images(tmp_path / "src", count=3)
    assert main(["calib", "collect", str(tmp_path / "src"), "--out", str(tmp_path / "c"), "--count", "5"]) == 0
    assert "wrote 3 image(s)" in capsys.readouterr().out
    assert main(["calib"]) == 2


def test_calibration_set_uses_inference_preprocessing(tmp_path):
    from edgepose.preprocess import preprocess
    from edgepose.profiles import load_profile

    paths = make_images(tmp_path / "c", count=5, size=(100, 200))
    cs = CalibrationSet(str(tmp_path / "c"), "tao-bpnet", size=(64, 96), batch_size=2)
    assert len(cs) == 2 and len(cs.files) == 4 and cs.batch_shape == (2, 64, 96, 3)
    batches = [b.copy() for b in cs.batches()]
    want, _ = preprocess(cv2.imread(paths[2]), load_profile("tao-bpnet"), size=(64, 96))
    np.testing.assert_array_equal(batches[1][0], want[0])  # letterboxed exactly as inference does
    with pytest.raises(UsageError, match="need at least one batch"):
        CalibrationSet(str(tmp_path / "c"), "tao-bpnet", batch_size=8)
