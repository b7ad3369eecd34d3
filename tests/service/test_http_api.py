"""HTTP endpoints on a real server bound to a free port: health, metrics, snapshot, MJPEG, events, token."""
import base64
import json
import socket
import time
import urllib.error
import urllib.request

import numpy as np
import pytest

from edgepose.errors import ConfigError
from edgepose.service.auth import authorized, check_bind, is_loopback, resolve_token
from edgepose.service.http_api import HttpApi
from edgepose.service.live import LiveState
from edgepose.service.metrics import Metric, render_prometheus
import helpers
from helpers import parse_prometheus

cv2 = pytest.importorskip("cv2")


def get(url, token=None, headers=None):
    req = urllib.request.Request(url, headers=dict(headers or {}))
    if token:
        req.add_header("Authorization", "Bearer " + token)
    try:
        with urllib.request.urlopen(req, timeout=5) as r:
            return r.status, r.headers, r.read()
    except urllib.error.HTTPError as e:
        return e.code, e.headers, e.read()


@pytest.fixture
def served():
    metrics = lambda: [Metric("edgepose_fps", "gauge", "frames per second", [({"source": "cam1"}, 12.5)]),
                       Metric("edgepose_events_total", "counter", "events", [({"label": "fall"}, 2)])]
    state = LiveState(["cam1", "cam2"], stale_after=0.5, metrics=metrics,
                      annotate=lambda img, people: cv2.circle(img, (10, 10), 5, (0, 0, 255), -1))
    api = HttpApi(state, "127.0.0.1", 0).start()
    host, port = api.address
    yield state, "http://%s:%d" % (host, port)
    state.close()
    api.stop()


def test_health_follows_frames(served):
    state, base = served
    code, _, body = get(base + "/healthz")
    assert code == 503 and json.loads(body)["status"] == "starting"
    state.status = "running"
    img = np.full((48, 64, 3), 128, np.uint8)
    state.publish("cam1", img)
    code, _, body = get(base + "/healthz")
    assert code == 503  # cam2 has no frame yet
    state.publish("cam2", img)
    code, _, body = get(base + "/healthz")
    data = json.loads(body)
    assert code == 200 and data["ok"] and data["sources"]["cam1"]["frames"] == 1
    time.sleep(0.6)
    code, _, body = get(base + "/healthz")
    assert code == 503 and json.loads(body)["status"] == "stalled"


def test_metrics_text(served):
    _, base = served
    code, headers, body = get(base + "/metrics")
    assert code == 200 and headers["Content-Type"].startswith("text/plain; version=0.0.4")
    samples = parse_prometheus(body.decode())
    assert samples[("edgepose_fps", frozenset({("source", "cam1")}))] == 12.5
    assert samples[("edgepose_events_total", frozenset({("label", "fall")}))] == 2


def test_render_escapes_labels():
    text = render_prometheus([Metric("m", "gauge", "h", [({"s": 'a"b\\c'}, float("nan")), ({}, 3)])])
    assert 'm{s="a\\"b\\\\c"} NaN' in text and "\nm 3\n" in text


def test_snapshot_and_unknown_source(served):
    state, base = served
    code, _, _ = get(base + "/snapshot.jpg?source=cam1")
    assert code == 503
    img = np.zeros((48, 64, 3), np.uint8)
    state.publish("cam1", img)
    code, headers, body = get(base + "/snapshot.jpg?source=cam1")
    assert code == 200 and headers["Content-Type"] == "image/jpeg"
    dec = cv2.imdecode(np.frombuffer(body, np.uint8), cv2.IMREAD_COLOR)
    assert dec.shape == (48, 64, 3)
    assert dec[10, 10, 2] > 200  # the overlay was drawn ...
    assert img[10, 10, 2] == 0  # ... on a copy
    code, _, body = get(base + "/snapshot.jpg?source=nope")
    assert code == 404 and b"cam1" in body
    assert get(base + "/nothing")[0] == 404


def test_mjpeg_stream(served):
    state, base = served
    state.publish("cam2", np.zeros((32, 32, 3), np.uint8))
    r = urllib.request.urlopen(base + "/stream.mjpg?source=cam2&fps=30", timeout=5)
    assert r.headers["Content-Type"] == "multipart/x-mixed-replace; boundary=edgeposeframe"
    frames = []
    for i in range(3):
        assert r.readline().strip() == b"--edgeposeframe"
        assert r.readline().strip() == b"Content-Type: image/jpeg"
        n = int(r.readline().split(b":")[1])
        assert r.readline() == b"\r\n"
        frames.append(r.read(n))
        r.readline()
        state.publish("cam2", np.full((32, 32, 3), 40 * (i + 1), np.uint8))
    r.close()
    means = [cv2.imdecode(np.frombuffer(f, np.uint8), cv2.IMREAD_GRAYSCALE).mean() for f in frames]
    assert means[0] < means[1] < means[2]  # each part is a newer frame


def test_events_since(served):
    state, base = served
    state.add_events([helpers.change("new", id="a", label="fall", score=float("nan"))])
    code, _, body = get(base + "/events")
    data = json.loads(body)
    assert code == 200 and len(data["events"]) == 1
    assert data["events"][0]["change"]["after"]["score"] is None  # strict JSON
    now = data["now"]
    state.add_events([helpers.change("end", id="a")])
    data = json.loads(get(base + "/events?since=%r" % now)[2])
    assert [e["change"]["type"] for e in data["events"]] == ["end"]
    assert get(base + "/events?since=yesterday")[0] == 400


def test_token_required_off_localhost(monkeypatch, tmp_path):
    assert is_loopback("127.0.0.1") and is_loopback("::1") and is_loopback("localhost")
    assert not is_loopback("0.0.0.0") and not is_loopback("192.168.1.4")
    with pytest.raises(ConfigError, match="not a loopback"):
        check_bind("0.0.0.0", None)
    with pytest.raises(ConfigError):
        HttpApi(LiveState(), "0.0.0.0", 0, token=None)
    check_bind("0.0.0.0", "s3cret")
    assert resolve_token({"EDGEPOSE_HTTP_TOKEN": " abc \n"}) == "abc"
    (tmp_path / "http_token").write_text("fromcred\n")
    assert resolve_token({"CREDENTIALS_DIRECTORY": str(tmp_path)}) == "fromcred"
    assert resolve_token({}) is None


def test_token_checked_constant_time_on_every_request():
    assert authorized("Bearer abc", "abc") and not authorized("Bearer abd", "abc")
    assert not authorized(None, "abc") and not authorized("Token abc", "abc")
    assert authorized("Basic " + base64.b64encode(b"user:abc").decode(), "abc")
    assert not authorized("Basic !!!", "abc")
    state = LiveState(["cam1"])
    api = HttpApi(state, "0.0.0.0", 0, token="abc").start()
    try:
        port = api.address[1]
        base = "http://127.0.0.1:%d" % port
        code, headers, _ = get(base + "/metrics")
        assert code == 401 and "Basic" in headers["WWW-Authenticate"]
        assert get(base + "/metrics", token="wrong")[0] == 401
        assert get(base + "/metrics", token="abc")[0] == 200
    finally:
        api.stop()


def test_port_in_use_is_a_config_error():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    s.listen(1)
    try:
        with pytest.raises(ConfigError, match="cannot listen"):
            HttpApi(LiveState(), "127.0.0.1", s.getsockname()[1]).start()
    finally:
        s.close()
