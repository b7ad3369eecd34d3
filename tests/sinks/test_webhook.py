"""Webhook sink against a local HTTP server (127.0.0.1) that fails, then recovers."""
import json
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from edgepose.sinks.config import WebhookSinkConfig
from edgepose.sinks.webhook import WebhookSink
import helpers


class Server(object):
    """Answers ``fail_first`` requests with 503 (or by hanging ``hang_s``), then 200; records bodies."""

    def __init__(self, fail_first=0, status=503, hang_s=0.0):
        self.bodies, self.headers, self.hits = [], [], 0
        self.fail_first, self.status, self.hang_s = fail_first, status, hang_s
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):
                n = int(self.headers.get("Content-Length", 0))
                body = self.rfile.read(n)
                outer.hits += 1
                if outer.hits <= outer.fail_first:
                    if outer.hang_s:
                        time.sleep(outer.hang_s)
                    self.send_response(outer.status)
                    self.end_headers()
                    return
                outer.bodies.append(json.loads(body))
                outer.headers.append(dict(self.headers))
                self.send_response(200)
                self.end_headers()
                self.wfile.write(b"ok")

            def log_message(self, *a):
                pass

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = "http://127.0.0.1:%d/hook" % self.httpd.server_address[1]
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)
        self.thread.start()

    def close(self):
        self.httpd.shutdown()
        self.httpd.server_close()


@pytest.fixture
def server_factory():
    made = []

    def make(**kw):
        s = Server(**kw)
        made.append(s)
        return s

    yield make
    for s in made:
        s.close()


def change(i, label="fall"):
    return helpers.change("new", id="e%d" % i, label=label, source="cam")


def wait(pred, timeout=10.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if pred():
            return True
        time.sleep(0.02)
    return False


def test_failing_endpoint_recovers_and_gets_everything_in_order(server_factory, monkeypatch):
    monkeypatch.setenv("EDGEPOSE_WEBHOOK_TOKEN", "s3cret")
    srv = server_factory(fail_first=3)
    sink = WebhookSink(WebhookSinkConfig(enabled=True, url=srv.url, backoff_initial_s=0.05, backoff_max_s=0.2,
                                         timeout_s=2, headers={"X-Site": "home"}))
    t0 = time.monotonic()
    for i in range(5):
        sink.handle(change(i))
    assert time.monotonic() - t0 < 0.05  # handle never waits for the network
    assert wait(lambda: len(srv.bodies) == 5)
    assert [b["after"]["id"] for b in srv.bodies] == ["e0", "e1", "e2", "e3", "e4"]
    assert set(srv.bodies[0]) == {"type", "before", "after"}  # the private keypoints stay home
    assert srv.headers[0]["Authorization"] == "Bearer s3cret"
    assert srv.headers[0]["X-Site"] == "home"
    assert sink.attempts == 8
    sink.close(2)


def test_timeouts_are_retried(server_factory):
    srv = server_factory(fail_first=1, hang_s=1.0, status=200)
    sink = WebhookSink(WebhookSinkConfig(enabled=True, url=srv.url, backoff_initial_s=0.05, timeout_s=0.3))
    sink.handle(change(1))
    assert wait(lambda: len(srv.bodies) >= 1, 10)
    sink.close(2)
    assert srv.hits >= 2 and sink.attempts >= 2  # the first attempt timed out, a retry got through
    assert {b["after"]["id"] for b in srv.bodies} == {"e1"}


def test_client_errors_are_not_retried_and_do_not_block_the_rest(server_factory):
    srv = server_factory(fail_first=1, status=400)
    sink = WebhookSink(WebhookSinkConfig(enabled=True, url=srv.url, backoff_initial_s=0.05))
    sink.handle(change(1))
    sink.handle(change(2))
    assert wait(lambda: len(srv.bodies) == 1)
    assert srv.bodies[0]["after"]["id"] == "e2" and srv.hits == 2
    assert sink.stats()["failed"] == 1
    sink.close(2)


def test_dead_endpoint_never_blocks_and_the_queue_is_bounded():
    sink = WebhookSink(WebhookSinkConfig(enabled=True, url="http://127.0.0.1:9/none", max_queue=5,
                                         backoff_initial_s=5, timeout_s=0.2))
    t0 = time.monotonic()
    for i in range(50):
        sink.handle(change(i))
    assert time.monotonic() - t0 < 0.2
    assert sink.stats()["queued"] <= 5 and sink.stats()["dropped"] >= 44
    t0 = time.monotonic()
    sink.close(0.5)
    assert time.monotonic() - t0 < 2.0


def test_label_filter(server_factory):
    srv = server_factory()
    sink = WebhookSink(WebhookSinkConfig(enabled=True, url=srv.url, labels=["fall"]))
    sink.handle(change(1, "bad_posture"))
    sink.handle(change(2, "fall"))
    assert wait(lambda: len(srv.bodies) == 1)
    sink.close(2)
    assert [b["after"]["id"] for b in srv.bodies] == ["e2"]


def test_enabled_webhook_needs_a_url():
    with pytest.raises(Exception):
        WebhookSinkConfig(enabled=True, url="ftp://x")


# -- issue 13: secrets, Basic auth, every loss counted ---------------------------------------------------
def test_the_url_never_reaches_the_log_and_userinfo_is_basic_auth(server_factory, caplog):
    import base64
    import logging

    from edgepose.sinks.webhook import masked_url

    srv = server_factory(fail_first=2)
    host_port = srv.url.split("//")[1].split("/")[0]
    url = "http://ha:p%40ss@" + host_port + "/api/webhook/SECRET-ID?token=SECRET-TOKEN"
    with caplog.at_level(logging.INFO, logger="edgepose.sinks.webhook"):
        sink = WebhookSink(WebhookSinkConfig(enabled=True, url=url, backoff_initial_s=0.05))
        sink.handle(change(1))
        assert wait(lambda: len(srv.bodies) == 1)
        sink.close(2)
    text = "\n".join(r.getMessage() for r in caplog.records)
    assert "retry" in text and "delivered after 3 attempts" in text
    assert "SECRET" not in text and "p@ss" not in text and "p%40ss" not in text and "ha:" not in text
    assert srv.headers[0]["Authorization"] == "Basic " + base64.b64encode(b"ha:p@ss").decode()
    assert masked_url(url) == "http://%s/…" % host_port


def test_userinfo_and_a_token_together_are_refused(monkeypatch):
    from edgepose.errors import SinkError

    monkeypatch.setenv("EDGEPOSE_WEBHOOK_TOKEN", "t")
    with pytest.raises(SinkError, match="use one of them"):
        WebhookSink(WebhookSinkConfig(enabled=True, url="http://u:p@127.0.0.1:9/x"))


def test_a_404_counts_every_change_as_failed(server_factory):
    srv = server_factory(fail_first=1000, status=404)
    sink = WebhookSink(WebhookSinkConfig(enabled=True, url=srv.url, backoff_initial_s=0.05))
    for i in range(5):
        sink.handle(change(i))
    assert wait(lambda: sink.stats()["failed"] == 5)
    assert sink.stats()["sent"] == 0
    sink.close(1)


def test_changes_left_at_close_are_counted_and_logged_with_their_number(caplog):
    import logging

    sink = WebhookSink(WebhookSinkConfig(enabled=True, url="http://127.0.0.1:9/none", backoff_initial_s=5,
                                         timeout_s=0.2))
    for i in range(30):
        sink.handle(change(i))
    with caplog.at_level(logging.ERROR):
        sink.close(0.5)
    assert sink.stats()["dropped"] == 30 and sink.stats()["sent"] == 0
    lines = [r.getMessage() for r in caplog.records if "not delivered at close" in r.getMessage()]
    assert len(lines) == 1 and "30 change(s)" in lines[0] and "/none" not in lines[0]
