"""``edgepose serve`` as systemd runs it: a subprocess with a NOTIFY_SOCKET the test owns.

Checked: READY=1 after the first frame, STATUS=, WATCHDOG=1 while frames flow and none while the
source stalls (an image folder the test takes away and gives back), /healthz, /metrics (Prometheus
text parsed line by line), /snapshot.jpg decodes, SIGHUP with a valid and an invalid config,
SIGTERM exits 0, a token is required off localhost. In-process: events reach the sinks and open
events are ended and flushed on stop; the shared backend batches several sources.
"""
import json
import os
import shutil
import signal
import threading
import time
import urllib.request

import numpy as np
import pytest
import yaml

import helpers
from helpers import parse_prometheus
from serving import TOKEN, FakeNotifier, Served, base_config, get, media, metric, pick_model, wait_until  # noqa: F401

cv2 = pytest.importorskip("cv2")


def test_serve_notify_http_reload_and_sigterm(tmp_path, media):
    model, profile = pick_model()
    cfg = base_config(model, profile, {"name": "clip", "uri": media["clip"],
                                       "options": {"loop": True, "realtime": True}})
    with Served(tmp_path, cfg, extra_env={"EDGEPOSE_HTTP_TOKEN": TOKEN}) as srv:
        base = srv.base_url()
        t_ready, msg = srv.notes.wait_for(lambda m: "READY=1" in m.split("\n"), 60)
        assert "STATUS=" in msg and "fps" in msg
        # WATCHDOG=1 keeps coming while frames flow (every WATCHDOG_USEC/4 = 0.5 s)
        wait_until(lambda: srv.notes.count("WATCHDOG=1", t_ready) >= 3, 15)
        srv.notes.wait_for(lambda m: m.startswith("STATUS=") and "clip" in m, 5, since=t_ready)

        # HTTP: bound off localhost, so the token is required
        assert get(base + "/healthz", token=None)[0] == 401
        assert get(base + "/healthz", token="wrong")[0] == 401
        code, body = get(base + "/healthz")
        health = json.loads(body)
        assert code == 200 and health["ok"] and health["sources"]["clip"]["frames"] > 0
        frames = metric(base, "edgepose_frames_total", source="clip")
        assert frames > 0
        samples = parse_prometheus(get(base + "/metrics")[1].decode())
        assert samples[("edgepose_fps", frozenset({("source", "clip")}))] > 0
        assert ("edgepose_stage_latency_seconds",
                frozenset({("source", "clip"), ("stage", "infer"), ("quantile", "0.5")})) in samples
        assert ("edgepose_dropped_frames_total", frozenset({("source", "clip")})) in samples
        assert ("edgepose_source_reconnects_total", frozenset({("source", "clip")})) in samples
        code, jpg = get(base + "/snapshot.jpg?source=clip")
        assert code == 200
        image = cv2.imdecode(np.frombuffer(jpg, np.uint8), cv2.IMREAD_COLOR)
        assert image.shape == (120, 160, 3)
        req = urllib.request.Request(base + "/stream.mjpg?source=clip", headers={"Authorization": "Bearer " + TOKEN})
        with urllib.request.urlopen(req, timeout=5) as r:
            assert r.headers["Content-Type"].startswith("multipart/x-mixed-replace")
            assert r.readline().strip() == b"--edgeposeframe"
        code, body = get(base + "/events?since=0")
        assert code == 200 and isinstance(json.loads(body)["events"], list)

        # SIGHUP with a valid config: thresholds and a zone change, the engine stays
        cfg["decode"] = {"peak_threshold": 0.2}
        cfg["sources"][0]["zones"] = [{"name": "bed", "polygon": [[0, 0], [50, 0], [50, 50]]}]
        srv.write_config(cfg)
        t0 = time.monotonic()
        srv.proc.send_signal(signal.SIGHUP)
        t_rel, m = srv.notes.wait_for(lambda m: m.startswith("RELOADING=1"), 10, since=t0)
        assert "MONOTONIC_USEC=" in m
        srv.notes.wait_for(lambda m: "READY=1" in m.split("\n"), 10, since=t_rel)
        wait_until(lambda: metric(base, "edgepose_reloads_total", result="ok") == 1, 10)
        out = srv.output()
        assert "reload: applying changes to sources, decode" in out
        assert "loading " in out and out.count("model loaded") == 1  # the engine was not reloaded

        # SIGHUP with an invalid config: refused, the old one keeps running
        srv.write_config("sources:\n  - name: clip\n    uri: %s\n    optoins: {}\nhttp: {port: 70000}\n"
                         % media["clip"])
        t0 = time.monotonic()
        srv.proc.send_signal(signal.SIGHUP)
        t_rel, _ = srv.notes.wait_for(lambda m: m.startswith("RELOADING=1"), 10, since=t0)
        srv.notes.wait_for(lambda m: "READY=1" in m.split("\n"), 10, since=t_rel)
        time.sleep(0.3)
        out = srv.output()
        assert "reload refused, still running the previous config" in out
        assert "sources.0.optoins" in out and "http.port: value 70000" in out
        assert metric(base, "edgepose_reloads_total", result="failed") == 1
        before = metric(base, "edgepose_frames_total", source="clip")
        wait_until(lambda: metric(base, "edgepose_frames_total", source="clip") > before, 15)
        assert srv.proc.poll() is None

        # SIGTERM: STOPPING=1, exit 0 within a few seconds
        t0 = time.monotonic()
        srv.proc.send_signal(signal.SIGTERM)
        assert srv.proc.wait(10) == 0
        assert time.monotonic() - t0 < 6
        srv.notes.wait_for(lambda m: m.startswith("STOPPING=1"), 1, since=t0)
        assert "stopped" in srv.output()


def test_watchdog_stops_while_the_source_stalls(tmp_path, media):
    model, profile = pick_model()
    frames = str(tmp_path / "frames")
    shutil.copytree(media["frames"], frames)
    cfg = base_config(model, profile, {"name": "cam", "uri": frames,
                                       "options": {"loop": True, "realtime": True, "fps": 4}})
    cfg["http"]["host"] = "127.0.0.1"
    with Served(tmp_path, cfg, watchdog_s=2.0) as srv:
        base = srv.base_url()
        t_ready, _ = srv.notes.wait_for(lambda m: "READY=1" in m.split("\n"), 60)
        srv.notes.wait_for(lambda m: m == "WATCHDOG=1", 5, since=t_ready)
        assert get(base + "/healthz", token=None)[0] == 200  # loopback: no token needed
        os.rename(frames, frames + ".away")  # the camera dies
        # once the last frame is older than WATCHDOG_USEC/2 the pings stop; give it that plus slack
        time.sleep(2.0)
        t_quiet = time.monotonic()
        time.sleep(2.0)
        assert srv.notes.count("WATCHDOG=1", t_quiet) == 0, "watchdog pinged while no frame flowed"
        assert get(base + "/healthz", token=None)[0] == 503
        assert srv.proc.poll() is None  # the service waits for its camera, systemd decides
        os.rename(frames + ".away", frames)  # the camera comes back
        srv.notes.wait_for(lambda m: m == "WATCHDOG=1", 15, since=time.monotonic())
        assert get(base + "/healthz", token=None)[0] == 200
        assert "restarting in" in srv.output()
        if os.environ.get("EP_SHOW"):
            print(srv.output())
        srv.proc.send_signal(signal.SIGINT)
        assert srv.proc.wait(10) == 0


def test_quick_start_without_a_config_file(tmp_path, media):
    model, profile = pick_model()
    with Served(tmp_path, None, extra_env={"JOURNAL_STREAM": "8:12345"},  # as under systemd
                    args=["--source", media["clip"], "--loop", "--realtime", "--model", model,
                          "--profile", profile, "--http", "127.0.0.1:0"]) as srv:
        srv.notes.wait_for(lambda m: "READY=1" in m.split("\n"), 60)
        code, body = get(srv.base_url() + "/healthz", token=None)
        assert code == 200 and "clip" in json.loads(body)["sources"]
        srv.proc.send_signal(signal.SIGTERM)
        assert srv.proc.wait(10) == 0
        lines = [line for line in srv.output().splitlines() if "edgepose." in line]
        assert any(line.startswith("<6>edgepose.service: ready: ") for line in lines)  # journald priority
        assert all(line.startswith("<") and not line[3:7].isdigit() for line in lines)  # no timestamps


def test_refuses_to_bind_off_localhost_without_token(tmp_path, media):
    model, profile = pick_model()
    cfg = base_config(model, profile, {"name": "clip", "uri": media["clip"]})
    with Served(tmp_path, cfg) as srv:
        assert srv.proc.wait(30) == 2
        assert "not a loopback address" in srv.output() and "EDGEPOSE_HTTP_TOKEN" in srv.output()


# -- in-process ---------------------------------------------------------------------------------
class RecordingSink:
    name = "rec"

    def __init__(self):
        self.changes = []
        self.closed_with = None

    def handle(self, change, frame=None):
        if change.type == "new":  # the frame comes with changes raised by a frame
            assert frame is not None and frame.ndim == 3
        self.changes.append(change)

    def close(self, timeout=5.0):
        self.closed_with = timeout

    def stats(self):
        return {"queued": 3}


class FakeAnalyzer:
    """Raises one 'new' fall on the first frame; ``finish`` ends it."""

    def __init__(self, config=None, source="default"):
        self.source = source
        self.open = False

    def update(self, t, people, frame_size=None):
        if not self.open:
            self.open = True
            return [helpers.change("new", id="e1", label="fall", source=self.source)]
        return []

    def finish(self, t=None, reason="stopped"):
        if self.open:
            self.open = False
            return [helpers.change("end", id="e1", label="fall", source=self.source, end_reason=reason)]
        return []

    def reconfigure(self, config):
        self.config = config


def test_events_reach_sinks_and_stop_flushes(monkeypatch, media):
    import logging

    import edgepose.analytics
    import edgepose.service.metrics
    import edgepose.sinks.sinkset
    from edgepose.service import Service

    model, profile = pick_model()
    sink = RecordingSink()
    monkeypatch.setattr(edgepose.sinks.sinkset, "build_sinks", lambda cfg, **kw: [sink])
    monkeypatch.setattr(edgepose.analytics, "Analyzer", FakeAnalyzer)
    root = logging.getLogger()
    handlers, level = list(root.handlers), root.level
    notifier = FakeNotifier()
    overrides = {"sources": [{"name": "a", "uri": media["clip"], "options": {"loop": True, "realtime": True}},
                             {"name": "b", "uri": media["clip"], "options": {"loop": True, "realtime": True}}],
                 "model": {"model": model, "profile": profile, "threads": 1},
                 "http": {"enabled": False}, "logging": {"format": "plain"}}
    svc = Service(None, overrides, notifier=notifier, install_signals=False)
    result = {}
    th = threading.Thread(target=lambda: result.setdefault("rc", svc.run()))
    try:
        th.start()
        deadline = time.monotonic() + 60
        while not (svc.ready and all(r.frames > 1 for r in svc.runners.values())) and time.monotonic() < deadline:
            time.sleep(0.05)
        assert svc.ready and ["READY=1"] in notifier.sent
        assert sorted(c.after.source for c in sink.changes) == ["a", "b"]
        text = "\n".join("%s %s" % (m.name, m.samples) for m in edgepose.service.metrics.build_metrics(svc))
        assert "edgepose_sink_queue_depth [({'sink': 'rec'}, 3)]" in text
        assert "'label': 'fall', 'type': 'new'" in text
        assert svc.backend.calls > 0  # both sources went through the one shared backend
        svc.request_stop()
        th.join(15)
        assert not th.is_alive() and result["rc"] == 0
        ends = [c for c in sink.changes if c.type == "end"]
        assert len(ends) == 2 and ends[0].after.end_reason == "stopped"
        assert sink.closed_with is not None and sink.closed_with > 0
        assert ["STOPPING=1"] in notifier.sent
    finally:
        svc.request_stop()
        th.join(15)
        root.handlers[:] = handlers
        root.setLevel(level)


class SlowBatchBackend:
    """A fake engine: output = input * 2, records the batch size of every call."""

    name = "fake"

    def __init__(self, batch_dim, batch_range=None):
        self.batch_dim = batch_dim
        self.inputs, self.outputs = [], []  # like TensorRT: known once active
        self.wanted_range = batch_range
        self.sizes = []
        self.activated_on = None

    def activate(self):
        from edgepose.backends.base import TensorInfo

        self.activated_on = threading.current_thread().name
        self.inputs = [TensorInfo("x", (self.batch_dim, 4), np.float32)]
        self.outputs = [TensorInfo("y", (self.batch_dim, 4), np.float32)]
        if self.wanted_range:
            self.batch_range = self.wanted_range
        return self

    def deactivate(self):
        pass

    def infer(self, batch):
        assert threading.current_thread().name == self.activated_on  # one thread owns the engine
        x = batch["x"]
        if isinstance(self.inputs[0].shape[0], int):
            assert len(x) == self.inputs[0].shape[0]
        self.sizes.append(len(x))
        time.sleep(0.03)
        return {"y": x * 2}


@pytest.mark.parametrize("batch_dim, batch_range, most", [("N", None, 4), (1, None, 1), (None, (1, 2), 2)])
def test_shared_backend_batches_sources(batch_dim, batch_range, most):
    from edgepose.service.backend import SharedBackend

    inner = SlowBatchBackend(batch_dim, batch_range)
    shared = SharedBackend(inner, "x", max_batch=4).activate()
    assert shared.max_batch == most and shared.inputs[0].name == "x"
    results = {}

    def worker(k):
        for j in range(5):
            x = np.full((1, 4), k * 10 + j, np.float32)
            results[(k, j)] = shared.infer({"x": x})["y"]

    threads = [threading.Thread(target=worker, args=(k,)) for k in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(10)
    shared.deactivate()  # what a pipeline does when it stops: the shared engine stays up
    assert shared.infer({"x": np.ones((1, 4), np.float32)})["y"][0, 0] == 2
    shared.close()
    for (k, j), y in results.items():
        assert y.shape == (1, 4) and np.all(y == 2 * (k * 10 + j))
    assert sum(inner.sizes) == 21
    assert max(inner.sizes) <= most
    assert (max(inner.sizes) > 1) == (most > 1)
    with pytest.raises(RuntimeError):
        shared.infer({"x": np.ones((1, 4), np.float32)})


def test_quick_start_flags():
    from edgepose.commands.serve import overrides_from, parse_http, source_name
    from edgepose.cli import build_parser
    from edgepose.errors import UsageError

    args = build_parser().parse_args(["serve", "--source", "/data/clip.mp4", "--source", "/data/clip.mp4",
                                      "--source", "csi://0", "--source", "rtsp://u:p@10.0.0.2:554/s",
                                      "--loop", "--engine", "e.engine", "--profile", "tao-bpnet",
                                      "--http", "0.0.0.0:9000"])
    ov = overrides_from(args)
    assert [s["name"] for s in ov["sources"]] == ["clip", "clip-2", "csi0", "10.0.0.2"]
    assert ov["sources"][0]["options"] == {"loop": True}
    assert ov["model"] == {"engine": "e.engine", "model": None, "profile": "tao-bpnet"}
    assert ov["http"] == {"enabled": True, "host": "0.0.0.0", "port": 9000}
    assert parse_http("off") == {"enabled": False}
    assert source_name("/dev/video0", set()) == "video0"
    with pytest.raises(UsageError):
        parse_http("localhost")


def test_reload_applies_each_section_in_process(monkeypatch, media, tmp_path):
    import logging

    import edgepose.analytics
    import edgepose.service.metrics
    import edgepose.sinks.sinkset
    from edgepose.service import Service

    model, profile = pick_model()
    built = []

    def build(cfg, **kw):
        built.append(RecordingSink())
        return [built[-1]]

    monkeypatch.setattr(edgepose.sinks.sinkset, "build_sinks", build)
    monkeypatch.setattr(edgepose.analytics, "Analyzer", FakeAnalyzer)
    root = logging.getLogger()
    handlers, level = list(root.handlers), root.level
    src = {"name": "a", "uri": media["clip"], "options": {"loop": True, "realtime": True}}
    cfg = {"sources": [src], "model": {"model": model, "profile": profile, "threads": 1},
           "http": {"enabled": False}, "logging": {"format": "plain"}}
    path = tmp_path / "c.yaml"
    path.write_text(yaml.safe_dump(cfg))
    svc = Service(str(path), {}, notifier=FakeNotifier(), install_signals=False)
    th = threading.Thread(target=svc.run)

    def wait(cond, timeout=30):
        end = time.monotonic() + timeout
        while not cond() and time.monotonic() < end:
            time.sleep(0.05)
        assert cond()

    def reload():
        """SIGHUP's path: the main loop runs the reload; True when it was applied."""
        before = dict(svc.reloads)
        svc.request_reload()
        wait(lambda: svc.reloads != before, 30)
        return svc.reloads["ok"] > before["ok"]

    try:
        th.start()
        wait(lambda: svc.ready)
        backend, runner_a = svc.backend, svc.runners["a"]
        # analytics thresholds + a new source + sinks: same engine, thresholds applied in place, the
        # open fall of 'a' carries on (no 'end')
        analytics_a = runner_a.analytics.inner
        cfg["analytics"] = {"fall": {"fall_confirm_s": 2.0}}
        cfg["sources"] = [src, dict(src, name="b")]
        cfg["sinks"] = {"log": {"enabled": False}}
        path.write_text(yaml.safe_dump(cfg))
        assert reload()
        assert svc.backend is backend and svc.runners["a"] is runner_a
        assert runner_a.analytics.inner is analytics_a and analytics_a.open
        assert analytics_a.config.fall.fall_confirm_s == 2.0
        assert sorted(svc.runners) == ["a", "b"]
        assert len(built) == 2  # new sinks built
        assert not any(c.type == "end" for c in built[0].changes)
        wait(lambda: svc.runners["b"].frames > 0)
        # source b removed: only its events end
        analytics_b = svc.runners["b"].analytics.inner
        wait(lambda: analytics_b.open)
        cfg["sources"] = [src]
        path.write_text(yaml.safe_dump(cfg))
        assert reload() and sorted(svc.runners) == ["a"]
        ends = [c.after for c in built[1].changes if c.type == "end"]
        assert [(e.source, e.end_reason) for e in ends] == [("b", "source removed")] and analytics_a.open
        cfg["sources"] = [src, dict(src, name="b")]
        path.write_text(yaml.safe_dump(cfg))
        assert reload()
        wait(lambda: svc.runners["b"].frames > 0)
        # invalid: refused, nothing changes
        path.write_text("sources: []\n")
        assert not reload() and sorted(svc.runners) == ["a", "b"] and svc.reloads["failed"] == 1
        # a model that does not exist: refused before anything stops
        cfg["model"]["model"] = str(tmp_path / "missing.onnx")
        path.write_text(yaml.safe_dump(cfg))
        assert not reload()
        assert svc.backend is backend and svc.config.model.model == model and svc.runners["a"] is runner_a
        # a real model change: new engine, sources restarted on it
        cfg["model"]["model"] = model
        cfg["model"]["threads"] = 2
        path.write_text(yaml.safe_dump(cfg))
        assert reload()
        assert svc.backend is not backend and svc.runners["a"] is not runner_a
        assert svc.runners["a"].analytics.inner is analytics_a and analytics_a.open  # carried to the new engine
        wait(lambda: svc.runners["a"].frames > 0 and svc.runners["b"].frames > 0)
    finally:
        svc.request_stop()
        th.join(15)
        root.handlers[:] = handlers
        root.setLevel(level)
    assert not th.is_alive()
