"""The daemon under faults (issue 13): a camera that is not there at start, idle HTTP connections
while alerts go out over MQTT. Loopback only, bounded in time."""
import json
import signal
import socket
import threading
import time

import numpy as np
import pytest

import helpers
from mosquitto import broker, free_port  # noqa: F401  (fixture)
from serving import FakeNotifier, Served, base_config, get, media, pick_model, wait_until  # noqa: F401

cv2 = pytest.importorskip("cv2")


def test_a_camera_late_at_boot_reaches_ready_reported_down_then_flows(tmp_path):
    """IP cameras often come up a minute after the Jetson: the single-camera service must not exit."""
    from edgepose.service.http_api import HttpApi
    from edgepose.service.live import LiveState

    model, profile = pick_model()
    port = free_port()
    source = {"name": "cam", "uri": "http://127.0.0.1:%d/stream.mjpg?source=cam&fps=10" % port,
              "options": {"wait_first": 1.0, "retry_delay": 0.2, "max_retry_delay": 0.5}}
    cfg = base_config(model, profile, source)
    cfg["http"]["host"] = "127.0.0.1"
    camera = None
    with Served(tmp_path, cfg) as srv:
        try:
            base = srv.base_url()
            _, msg = srv.notes.wait_for(lambda m: "READY=1" in m.split("\n"), 60)
            assert "cam down" in msg
            out = srv.output()
            assert "not there at start (tried for 1 s)" in out
            assert get(base + "/healthz", token=None)[0] == 503 and srv.proc.poll() is None
            # the camera boots: an MJPEG stream on that port
            state = LiveState(["cam"])
            camera = HttpApi(state, "127.0.0.1", port).start()
            stop = threading.Event()

            def feed():
                i = 0
                while not stop.is_set():
                    state.publish("cam", np.full((120, 160, 3), 40 + i % 100, np.uint8))
                    i += 1
                    time.sleep(0.05)

            threading.Thread(target=feed, daemon=True).start()
            wait_until(lambda: get(base + "/healthz", token=None)[0] == 200, 30)
            assert json.loads(get(base + "/healthz", token=None)[1])["sources"]["cam"]["frames"] > 0
            srv.proc.send_signal(signal.SIGTERM)
            assert srv.proc.wait(15) == 0
            stop.set()
        finally:
            if camera is not None:
                camera.state.close()
                camera.stop()


def test_idle_connections_do_not_stop_frames_or_alerts(monkeypatch, media, tmp_path, broker):
    import logging

    import edgepose.analytics
    from edgepose.service import Service

    paho = pytest.importorskip("paho.mqtt.client")
    got = []
    sub = paho.Client(paho.CallbackAPIVersion.VERSION2)
    sub.on_message = lambda c, u, m: got.append(json.loads(m.payload)["after"]["id"])
    sub.connect("127.0.0.1", broker.port)
    sub.subscribe("edgepose/events", qos=1)
    sub.loop_start()
    monkeypatch.setattr(edgepose.analytics, "Analyzer", helpers.PulseAnalyzer)
    root = logging.getLogger()
    handlers, level = list(root.handlers), root.level
    model, profile = pick_model()
    overrides = {"sources": [{"name": "a", "uri": media["clip"], "options": {"loop": True, "realtime": True}}],
                 "model": {"model": model, "profile": profile, "threads": 1},
                 "http": {"host": "127.0.0.1", "port": 0, "max_connections": 4, "request_timeout_s": 30},
                 "sinks": {"log": {"enabled": False},
                           "mqtt": {"enabled": True, "port": broker.port, "queue_dir": str(tmp_path / "q")}},
                 "logging": {"format": "plain"}}
    svc = Service(None, overrides, notifier=FakeNotifier(), install_signals=False)
    th = threading.Thread(target=svc.run)
    socks = []
    try:
        th.start()
        wait_until(lambda: svc.ready and svc.http is not None, 60)
        host, port = svc.http.address
        for _ in range(200):  # idle, unauthenticated, never sending a byte
            socks.append(socket.create_connection((host, port), timeout=5))
        frames, sent = svc.runners["a"].frames, len(got)
        wait_until(lambda: svc.runners["a"].frames > frames + 10 and len(got) > sent + 3, 30)
        assert get("http://%s:%d/healthz" % (host, port), token=None)[0] == 200
        assert svc.http.stats()["connections"] <= 4
    finally:
        for s in socks:
            s.close()
        svc.request_stop()
        th.join(20)
        root.handlers[:] = handlers
        root.setLevel(level)
    emitted = svc.runners["a"].events.get(("bad_posture", "new"), 0)
    deadline = time.monotonic() + 10
    while len(set(got)) < emitted and time.monotonic() < deadline:
        time.sleep(0.1)
    sub.disconnect()
    sub.loop_stop()
    assert emitted > 3 and len(set(got)) == emitted and len(got) == emitted  # all alerts, none twice
