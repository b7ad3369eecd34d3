"""Frame sources: files, image folders/globs, a fake camera, a stream that dies and comes back."""
import logging
import os
import time

import numpy as np
import pytest

cv2 = pytest.importorskip("cv2")

from edgepose.errors import DependencyError, SourceError, UsageError  # noqa: E402
from edgepose.sources import ArraySource, LiveSource, open_source  # noqa: E402
from edgepose.sources import gst  # noqa: E402

from fakes.fake_camera import CameraFactory, FakeCamera, frame_number  # noqa: E402


from conftest import ROOT  # noqa: E402


from conftest import shared_path  # noqa: E402


def write_video(path, n=10, fps=20.0, size=(48, 64)):
    w = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"MJPG"), fps, (size[1], size[0]))
    assert w.isOpened()
    for i in range(n):
        img = np.zeros(size + (3,), np.uint8)
        img[:, : (i + 1) * 5] = 255          # wider white band for each frame
        w.write(img)
    w.release()
    return str(path)


def band(img):
    return int((img[:, :, 0].mean(axis=0) > 127).sum())


def test_video_file_in_order_with_media_time(tmp_path):
    path = write_video(tmp_path / "clip.avi")
    src = open_source(path, start_time=100.0)
    frames = list(src)
    assert [f.index for f in frames] == list(range(10))
    assert [round(band(f.image) / 5) for f in frames] == list(range(1, 11))
    np.testing.assert_allclose([f.t for f in frames], 100.0 + np.arange(10) / 20.0, atol=1e-6)
    assert frames[0].source == "clip.avi" and not src.live and src.fps == pytest.approx(20.0)


def test_video_file_loop_and_realtime(tmp_path):
    path = write_video(tmp_path / "clip.avi", n=4, fps=40.0)
    src = open_source(path + "?loop=true", start_time=0.0)
    frames = [src.read() for _ in range(10)]
    src.close()
    assert [f.index for f in frames] == list(range(10))
    assert np.all(np.diff([f.t for f in frames]) > 0)                       # time keeps growing across loops
    np.testing.assert_allclose(frames[4].t, 4 / 40.0)
    assert round(band(frames[5].image) / 5) == 2                            # second pass, second frame
    t0 = time.monotonic()
    n = len(list(open_source(path, realtime=True)))
    assert n == 4 and time.monotonic() - t0 >= 3 / 40.0 * 0.9                # paced at the file's rate


def test_image_folder_glob_and_single_image(tmp_path):
    for i, name in enumerate(["b.png", "a.jpg", "c.png"]):
        cv2.imwrite(str(tmp_path / name), np.full((8, 8, 3), i * 50, np.uint8))
    (tmp_path / "notes.txt").write_text("not an image")
    (tmp_path / "d.png").write_bytes(b"broken")
    frames = list(open_source(str(tmp_path), fps=10))
    assert [f.image[0, 0, 0] for f in frames] == [50, 0, 100]               # sorted names; broken d.png skipped
    np.testing.assert_allclose(np.diff([f.t for f in frames]), 0.1, atol=1e-6)
    assert [int(f.image[0, 0, 0]) for f in open_source(str(tmp_path / "*.png"))][:2] == [0, 100]
    assert len(list(open_source(str(tmp_path / "a.jpg")))) == 1
    empty = tmp_path / "empty"
    empty.mkdir()
    with pytest.raises(SourceError, match="no images"):
        open_source(str(empty))


def test_shared_images_folder(tmp_path):
    folder = shared_path("images")
    frames = list(open_source(folder))
    assert len(frames) == len([n for n in os.listdir(folder) if n.lower().endswith((".jpg", ".png"))])
    assert all(f.image.dtype == np.uint8 and f.image.ndim == 3 for f in frames)


@pytest.mark.parametrize("uri, exc, match", [
    ("/nonexistent/clip.mp4", SourceError, "no such file"),
    ("/dev/video99", SourceError, "no such video device"),
])
def test_bad_uris(uri, exc, match):
    with pytest.raises(exc, match=match):
        open_source(uri)


def test_unknown_option_is_a_usage_error(tmp_path):
    path = write_video(tmp_path / "c.avi", n=2)
    with pytest.raises(UsageError, match="widht"):
        open_source(path + "?widht=3")


def test_csi_needs_gstreamer(monkeypatch):
    monkeypatch.setattr(gst, "opencv_has_gstreamer", lambda: False)
    with pytest.raises(DependencyError, match="GStreamer"):
        open_source("csi://0")


def test_csi_pipeline_through_a_fake_capture():
    factory = CameraFactory([FakeCamera()])
    src = open_source("csi://1?width=640&height=480&fps=15", capture_factory=factory)
    try:
        spec = factory.specs[0]
        assert spec.api == "gstreamer"
        assert "nvarguscamerasrc sensor-id=1" in spec.target and "width=640, height=480" in spec.target
        assert "framerate=15/1" in spec.target and "appsink drop=true max-buffers=1" in spec.target
        assert src.live and src.name == "csi1" and src.read(timeout=2.0) is not None
    finally:
        src.close()


def test_v4l2_camera_double_latest_frame_wins():
    cam = FakeCamera(period=0.002)
    factory = CameraFactory([cam])
    src = open_source("v4l2:///dev/video0?width=320&height=240&fps=30", capture_factory=factory)
    try:
        spec = factory.specs[0]
        assert spec.api == "v4l2" and spec.target == "/dev/video0"
        assert dict(spec.props) == {"width": 320.0, "height": 240.0, "fps": 30.0}
        got = []
        for _ in range(5):
            time.sleep(0.05)                    # a slow consumer
            f = src.read(timeout=2.0)
            got.append((f.index, frame_number(f.image), cam.count))
        idx = [g[0] for g in got]
        assert idx == sorted(idx) and len(set(idx)) == 5
        assert min(np.diff(idx)) > 1            # frames in between were dropped, not queued
        assert all(g[0] == g[1] for g in got)   # index follows the capture order
        assert all(g[2] - g[0] <= 3 for g in got)   # what we read was (nearly) the newest
        assert src.dropped >= 10
    finally:
        src.close()
    assert cam.released


def test_stream_dies_mid_run_and_comes_back(caplog):
    first = FakeCamera(period=0.001, fail_after=5)
    second = FakeCamera(period=0.001, start=1000)
    factory = CameraFactory([first, None, None, second])
    with caplog.at_level(logging.INFO, logger="edgepose.sources.live"):
        src = LiveSource(spec=object(), name="cam", uri="rtsp://cam", capture_factory=factory,
                         retry_delay=0.01, max_retry_delay=0.04)
        numbers = []
        deadline = time.monotonic() + 5.0
        while time.monotonic() < deadline and not any(n >= 1000 for n in numbers):
            f = src.read(timeout=0.5)
            if f is not None:
                numbers.append(frame_number(f.image))
        src.close()
    assert any(n < 5 for n in numbers) and any(n >= 1000 for n in numbers)
    assert src.reconnects == 1 and first.released
    msgs = [r.getMessage() for r in caplog.records]
    assert any("lost" in m for m in msgs)
    assert sum("reconnecting (attempt" in m for m in msgs) == 3             # one line per attempt
    assert any("reconnected after 3 attempt" in m for m in msgs)


def test_reconnect_gives_up_after_max_retries():
    factory = CameraFactory([FakeCamera(period=0.001, fail_after=2)])
    src = LiveSource(spec=object(), name="cam", capture_factory=factory, retry_delay=0.005, max_retries=2)
    got = [src.read(timeout=1.0) for _ in range(3)]
    time.sleep(0.1)
    assert src.read(timeout=0.5) is None and src.finished
    assert isinstance(src.error, SourceError) and "2 reconnect attempts" in str(src.error)
    assert sum(f is not None for f in got) >= 1
    src.close()


def test_first_open_failure_is_reported_at_once():
    with pytest.raises(SourceError, match="cannot open"):
        LiveSource(spec=object(), name="cam", uri="/dev/video0", capture_factory=CameraFactory([None]))


def test_rtsp_without_gstreamer_uses_ffmpeg_and_hides_password(monkeypatch):
    monkeypatch.setattr("edgepose.sources.opencv_has_gstreamer", lambda: False)
    factory = CameraFactory([FakeCamera()])
    src = open_source("rtsp://admin:secret@10.0.0.5:554/stream1", capture_factory=factory, hardware="auto")
    try:
        # with an injected factory no GStreamer probing happens: FFMPEG with the real URL
        assert factory.specs[0].api == "ffmpeg" and factory.specs[0].target.endswith("10.0.0.5:554/stream1")
        assert "secret" not in src.uri and src.name == "10.0.0.5:554"
    finally:
        src.close()


def test_rtsp_hardware_pipeline_text():
    p = gst.rtsp_pipeline("rtsp://h/s", latency=100, codec="h265")
    assert p.startswith("rtspsrc location=rtsp://h/s latency=100 ! rtph265depay ! h265parse ! nvv4l2decoder")


def test_array_source_cycles():
    imgs = [np.full((4, 4, 3), i, np.uint8) for i in range(3)]
    frames = list(ArraySource(imgs, count=7, fps=10.0, start_time=0.0))
    assert [int(f.image[0, 0, 0]) for f in frames] == [0, 1, 2, 0, 1, 2, 0]
    assert frames[-1].t == pytest.approx(0.6)
