"""The loop: ordering, newest-frame-wins for live sources, analytics/sinks hooks, errors, shutdown."""
import os
import signal
import subprocess
import sys
import threading
import time

import numpy as np
import pytest

cv2 = pytest.importorskip("cv2")

from edgepose.backends.base import Backend, TensorInfo  # noqa: E402
from edgepose.errors import InputError  # noqa: E402
from edgepose.pipeline import Pipeline  # noqa: E402
from edgepose.profiles import load_profile  # noqa: E402
from edgepose.sources import ArraySource, LiveSource  # noqa: E402
from edgepose.types import Person  # noqa: E402

from fakes.fake_camera import CameraFactory, FakeCamera, frame_number  # noqa: E402
import helpers  # noqa: E402

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


from conftest import shared_path  # noqa: E402


PROFILE = load_profile("tf-pose").with_size((16, 24))


class EchoBackend(Backend):
    """Returns the input's pixel (0, 0, 0) (= the frame's number) as its output; optional delay."""

    name = "echo"

    def __init__(self, delay=0.0, fail_at=None):
        super().__init__()
        self.delay, self.fail_at = delay, fail_at
        self.inputs = [TensorInfo("image", (None, 16, 24, 3), np.dtype(np.float32))]
        self.outputs = [TensorInfo("out", (None, 1), np.dtype(np.float32))]
        self.threads = {}
        self.calls = 0

    def _activate(self):
        self.threads["activate"] = threading.current_thread().name

    def _deactivate(self):
        self.threads["deactivate"] = threading.current_thread().name

    def _infer(self, batch):
        self.threads["infer"] = threading.current_thread().name
        self.calls += 1
        if self.delay:
            time.sleep(self.delay)
        x = batch["image"]
        if self.fail_at is not None and self.calls > self.fail_at:
            raise InputError("echo: broken on purpose")
        return {"out": x[:, :1, :1, 0].reshape(-1, 1).copy()}


class EchoDecoder:
    """One person whose nose is at network pixel (value, 8): checks the mapping to source pixels."""

    def decode(self, outputs):
        v = float(outputs["out"][0, 0])
        k = np.full((18, 3), np.nan, np.float32)
        k[:, 2] = 0
        k[0] = [v, 8.0, 0.9]
        return [Person(k, 0.9)]


def numbered(n, size=(32, 48)):
    imgs = []
    for i in range(n):
        img = np.zeros(size + (3,), np.uint8)
        img[:, :] = i       # BGR; tf-pose keeps BGR 0..255, so the tensor's [0, 0, 0] is i
        imgs.append(img)
    return imgs


def test_file_source_results_in_order_without_drops():
    pipe = Pipeline(ArraySource(numbered(40)), backend=EchoBackend(), profile=PROFILE, decoder=EchoDecoder(),
                    queue_size=2)
    seen = []
    results = list(pipe)
    pipe.close()
    assert [r.frame.index for r in results] == list(range(40))
    for r in results:
        nose = r.people[0].keypoints[0]
        # network input 16x24 from a 32x48 source (stretch): x_src = (x_net + 0.5) * 2 - 0.5
        assert nose[0] == pytest.approx((r.frame.index + 0.5) * 2 - 0.5)
        assert nose[1] == pytest.approx(8.5 * 2 - 0.5)
        assert set(r.timings) >= {"capture", "preprocess", "infer", "decode", "total"}
        seen.append(r.frame.t)
    assert np.all(np.diff(seen) > 0)
    assert pipe.stats.frames == 40 and pipe.stats.dropped == 0 and pipe.stats.people == 40
    assert pipe.backend.threads["activate"] == pipe.backend.threads["infer"] == pipe.backend.threads["deactivate"]
    assert pipe.backend.threads["infer"] == "edgepose-infer"


def test_max_frames_callbacks_and_stats():
    got = []
    pipe = Pipeline(ArraySource(numbered(10), count=1000), backend=EchoBackend(), profile=PROFILE,
                    decoder=EchoDecoder(), on_result=got.append, max_frames=7)
    stats = pipe.run()
    assert [r.frame.index for r in got] == list(range(7))
    snap = stats.snapshot()
    assert snap["frames"] == 7 and snap["people_per_frame"] == 1.0 and snap["fps"] > 0
    assert set(snap["latency"]) >= {"preprocess", "infer", "decode", "total"}
    assert snap["rss_mb"] > 10
    assert "median" in stats.table() and "fps" in stats.log_line()


def test_live_source_newest_frame_wins():
    cam = FakeCamera(period=0.001)
    src = LiveSource(object(), "cam", capture_factory=CameraFactory([cam]))
    pipe = Pipeline(src, backend=EchoBackend(delay=0.03), profile=PROFILE, decoder=EchoDecoder())
    results = []
    for r in pipe:
        results.append((r.frame.index, frame_number(r.frame.image)))
        if len(results) == 8:
            pipe.request_stop()
    pipe.close()
    idx = [i for i, _ in results]
    assert idx == sorted(idx) and all(i == n for i, n in results)
    assert len(results) >= 8 and max(np.diff(idx)) > 5          # frames skipped while inference was busy
    assert cam.count > 3 * len(results)
    assert pipe.stats.dropped + pipe.stats.source_dropped > 0
    assert cam.released and src.closed


class RecordingAnalyzer:
    def __init__(self):
        self.calls = []

    def update(self, t, people, frame_size):
        self.calls.append((t, len(people), frame_size))
        return [helpers.change("new", id="e%d" % len(self.calls))]


class RecordingSink:
    def __init__(self, fail=False):
        self.changes, self.closed, self.fail = [], None, fail

    def handle(self, change, frame=None):
        if self.fail:
            raise RuntimeError("sink down")
        self.changes.append((change.after.id, frame.shape))

    def close(self, timeout):
        self.closed = timeout


def test_analytics_and_sinks_hooks():
    an, good, bad = RecordingAnalyzer(), RecordingSink(), RecordingSink(fail=True)
    made = []

    def factory(name):
        made.append(name)
        return an

    pipe = Pipeline(ArraySource(numbered(5), name="clip"), backend=EchoBackend(), profile=PROFILE,
                    decoder=EchoDecoder(), analytics=factory, sinks=[bad, good])
    results = list(pipe)
    pipe.close(timeout=2.0)
    assert made == ["clip"] and len(an.calls) == 5
    assert an.calls[0][1:] == (1, (32, 48))
    assert [c for c, _ in good.changes] == ["e1", "e2", "e3", "e4", "e5"]     # a failing sink does not stop others
    assert good.closed == 2.0 and bad.closed == 2.0
    assert all(len(r.events) == 1 and "analytics" in r.timings for r in results)


def test_stage_error_reaches_the_consumer():
    pipe = Pipeline(ArraySource(numbered(20)), backend=EchoBackend(fail_at=3), profile=PROFILE,
                    decoder=EchoDecoder())
    got = []
    with pytest.raises(InputError, match="broken on purpose"):
        for r in pipe:
            got.append(r)
    pipe.close()
    assert len(got) <= 3
    assert not any(t.is_alive() for t in pipe._threads)


def test_close_without_consuming_stops_everything():
    cam = FakeCamera(period=0.001)
    src = LiveSource(object(), "cam", capture_factory=CameraFactory([cam]))
    pipe = Pipeline(src, backend=EchoBackend(delay=0.01), profile=PROFILE, decoder=EchoDecoder())
    pipe.start()
    time.sleep(0.2)
    t0 = time.monotonic()
    pipe.close()
    assert time.monotonic() - t0 < 3.0
    assert not any(t.is_alive() for t in pipe._threads) and cam.released


@pytest.fixture(scope="module")
def tiny_model(tmp_path_factory):
    pytest.importorskip("onnx")
    from tiny_bpnet import make_tiny_bpnet

    return make_tiny_bpnet(tmp_path_factory.mktemp("m") / "tiny.onnx", size=(64, 96))


def test_real_backend_and_decoder_on_a_video(tmp_path, tiny_model):
    path = str(tmp_path / "v.avi")
    w = cv2.VideoWriter(path, cv2.VideoWriter_fourcc(*"MJPG"), 15.0, (96, 64))
    for i in range(6):
        w.write(np.full((64, 96, 3), 20 * i, np.uint8))
    w.release()
    pipe = Pipeline(path, model=tiny_model, profile="tao-bpnet", size=(64, 96), threads=1)
    results = list(pipe)
    pipe.close()
    assert [r.frame.index for r in results] == list(range(6))
    assert all(isinstance(p, Person) for r in results for p in r.people)


def test_sigterm_stops_edgepose_run_cleanly(tmp_path, tiny_model):
    video = str(tmp_path / "v.avi")
    w = cv2.VideoWriter(video, cv2.VideoWriter_fourcc(*"MJPG"), 15.0, (96, 64))
    for i in range(5):
        w.write(np.full((64, 96, 3), 40 * i, np.uint8))
    w.release()
    rec = tmp_path / "poses.jsonl"
    cmd = [sys.executable, "-m", "edgepose", "run", video, "--loop", "--model", tiny_model, "--profile", "tao-bpnet",
           "--size", "64x96", "--threads", "1", "--record", str(rec)]
    env = dict(os.environ, PYTHONPATH=ROOT)
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env, cwd=str(tmp_path))
    try:
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline and (not rec.exists() or rec.stat().st_size < 500):
            time.sleep(0.1)
        assert rec.exists() and rec.stat().st_size >= 500, proc.stderr.read1(4000) if proc.poll() is not None else ""
        proc.send_signal(signal.SIGTERM)
        out, err = proc.communicate(timeout=20)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 0, err.decode()[-2000:]
    assert b"frames" in out and b"poses:" in out
    from edgepose.recording import read_recording

    frames = [r.frame for r in read_recording(rec)]
    assert frames == list(range(len(frames))) and len(frames) >= 5


def test_pipeline_finds_people_in_a_clip_of_real_photos(tmp_path, tfpose_model):
    img = cv2.imread(shared_path("images", "p1.jpg"))
    img = cv2.resize(img, (432, 368))
    path = str(tmp_path / "people.avi")
    w = cv2.VideoWriter(path, cv2.VideoWriter_fourcc(*"MJPG"), 10.0, (432, 368))
    for _ in range(3):
        w.write(img)
    w.release()
    pipe = Pipeline(path, model=tfpose_model, profile="tf-pose")
    results = list(pipe)
    pipe.close()
    assert len(results) == 3
    for r in results:
        assert len(r.people) >= 1
        k = r.people[0].keypoints
        ok = k[:, 2] > 0
        assert ok.sum() >= 4
        assert np.all((k[ok, 0] >= -1) & (k[ok, 0] <= 433) & (k[ok, 1] >= -1) & (k[ok, 1] <= 369))


def _matches(gt, person, tol):
    """Keypoints of ``person`` within ``tol`` pixels of the same labelled ground-truth keypoint."""
    ok = (gt[:, 2] > 0) & person.present
    d = np.hypot(*(person.keypoints[ok, :2] - gt[ok, :2]).T)
    return int((d < tol).sum())


class OracleBackend(Backend):
    """A perfect network: the maps of the frame's ground-truth people (files: frames arrive in order)."""

    name = "oracle"

    def __init__(self, maps):
        super().__init__()
        self.maps = list(maps)

    def _activate(self):
        pass

    def _infer(self, batch):
        return self.maps.pop(0)


def test_loop_on_a_synthetic_clip_finds_the_rendered_people():
    from edgepose import synth
    from edgepose.synth.targets import render_maps
    from edgepose.preprocess import compute_transform

    prof = load_profile("tao-bpnet").with_size((240, 320))
    scenes = [synth.render_scene(seed, size=(270, 400), num_people=2) for seed in range(6)]
    tf = compute_transform(270, 400, 240, 320, prof.input.resize)     # letterbox with padding
    maps = [render_maps(prof, tf.to_network(s.keypoints)) for s in scenes]
    pipe = Pipeline(ArraySource([s.image for s in scenes], name="synth"), backend=OracleBackend(maps), profile=prof)
    results = list(pipe)
    pipe.close()
    assert [r.frame.index for r in results] == list(range(6))
    found = total = 0
    for r, s in zip(results, scenes):
        people = [g for g in s.keypoints if (g[:, 2] > 0).sum() >= 6]
        total += len(people)
        found += sum(any(_matches(g, p, 4.0) >= 5 for p in r.people) for g in people)
        # every detection lies on a rendered person, in source pixels
        assert all(any(_matches(g, p, 4.0) >= 3 for g in s.keypoints) for p in r.people)
    print("found %d of %d rendered people" % (found, total))
    assert total >= 6 and found >= 0.9 * total, (found, total)


def test_run_command_writes_video_and_recording(tmp_path, tiny_model, capsys):
    from edgepose.cli import main
    from edgepose.recording import read_recording

    video = str(tmp_path / "in.avi")
    w = cv2.VideoWriter(video, cv2.VideoWriter_fourcc(*"MJPG"), 12.0, (160, 120))
    for i in range(4):
        w.write(np.full((120, 160, 3), 30 * i, np.uint8))
    w.release()
    out, rec = str(tmp_path / "out.avi"), str(tmp_path / "p.jsonl")
    rc = main(["-q", "run", video, "--model", tiny_model, "--profile", "tao-bpnet", "--size", "64x96",
               "--threads", "1", "--out", out, "--record", rec])
    text = capsys.readouterr().out
    assert rc == 0 and "4 frames" in text and "people/frame" in text and "infer" in text
    cap = cv2.VideoCapture(out)
    n = 0
    while cap.read()[0]:
        n += 1
    assert n == 4 and cap.get(cv2.CAP_PROP_FRAME_WIDTH) == 160
    recs = list(read_recording(rec))
    assert [(r.frame, r.width, r.height) for r in recs] == [(i, 160, 120) for i in range(4)]
    np.testing.assert_allclose([r.t - recs[0].t for r in recs], np.arange(4) / 12.0, atol=1e-4)


def test_run_command_errors_are_one_line(tmp_path, capsys):
    from edgepose.cli import main

    rc = main(["run", str(tmp_path / "missing.mp4"), "--model", str(tmp_path / "m.onnx"), "--profile", "tf-pose"])
    err = capsys.readouterr().err
    assert rc != 0 and err.count("\n") == 1 and "edgepose: error:" in err


def test_stats_are_logged_periodically(caplog):
    with caplog.at_level("INFO", logger="edgepose.pipeline"):
        pipe = Pipeline(ArraySource(numbered(5), count=30), backend=EchoBackend(delay=0.005), profile=PROFILE,
                        decoder=EchoDecoder(), stats_interval=0.02)
        pipe.run()
    lines = [r.getMessage() for r in caplog.records if "fps" in r.getMessage()]
    assert len(lines) >= 3 and "dropped" in lines[0] and "rss" in lines[0] and "infer" in lines[0]


def test_blas_threads_are_capped_when_the_loop_starts(monkeypatch):
    import edgepose.pipeline
    from edgepose.stats import default_threads

    calls = []
    monkeypatch.setattr(edgepose.pipeline, "limit_blas_threads", lambda n: calls.append(n) or ["openblas"])
    pipe = Pipeline(ArraySource(numbered(2)), backend=EchoBackend(), profile=PROFILE, decoder=EchoDecoder(),
                    stats_interval=0)
    assert calls == []                    # not at construction: when the loop starts
    assert len(list(pipe)) == 2 and calls == [1]
    pipe.close()
    pipe = Pipeline(ArraySource(numbered(2)), backend=EchoBackend(), profile=PROFILE, decoder=EchoDecoder(),
                    stats_interval=0, blas_threads=None)
    pipe.run()
    assert calls == [1]                   # None leaves BLAS alone
    assert default_threads(3) == 3 and default_threads() == max(1, (os.cpu_count() or 1) - 1)


def test_bench_command_prints_overhead_and_json(tmp_path, tiny_model, capsys):
    import json

    from edgepose.cli import main

    folder = tmp_path / "imgs"
    folder.mkdir()
    for i in range(3):
        cv2.imwrite(str(folder / ("%d.png" % i)), np.full((60, 80, 3), 60 * i, np.uint8))
    common = ["--model", tiny_model, "--profile", "tao-bpnet", "--size", "64x96", "--frames", "30",
              "--bare-frames", "30", "--threads", "1"]
    assert main(["-q", "bench", str(folder)] + common) == 0
    text = capsys.readouterr().out
    assert "loop overhead: " in text and "preprocess" in text and "bare inference:" in text
    assert main(["-q", "bench", "--synthetic", "--json"] + common) == 0
    res = json.loads(capsys.readouterr().out)
    assert res["frames"] == 30 and res["bare_frames"] == 30 and res["rounds"] == 3
    assert res["infer_ms_per_frame"] > 0 and res["bottleneck"] in ("preprocess", "infer", "decode")
    assert {"rss_before_mb", "rss_after_mb", "rss_growth_mb", "loop_overhead_percent"} <= set(res)
