"""A real Mosquitto broker for tests: 127.0.0.1, a free port, a generated config; a subscriber.

``Mosquitto(tmpdir).start()`` / ``.kill()`` / ``.start()`` again on the same port. Tests that use
the ``broker`` fixture skip with a loud reason when the Debian ``mosquitto`` package is missing
(install it with ``apt-get install -y mosquitto``).
"""
import json
import os
import shutil
import signal
import socket
import subprocess
import threading
import time

import pytest

INSTALL_HINT = "apt-get install -y mosquitto"


def find_mosquitto():
    for p in (shutil.which("mosquitto"), "/usr/sbin/mosquitto", "/usr/local/sbin/mosquitto"):
        if p and os.path.isfile(p) and os.access(p, os.X_OK):
            return p
    return None


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


class Mosquitto(object):
    def __init__(self, workdir, port=None, persistence=False):
        self.exe = find_mosquitto()
        if self.exe is None:
            raise RuntimeError("mosquitto not installed (%s)" % INSTALL_HINT)
        self.dir = str(workdir)
        self.port = port or free_port()
        self.persistence = persistence
        self.proc = None
        self.conf = os.path.join(self.dir, "mosquitto.conf")
        lines = ["listener %d 127.0.0.1" % self.port, "allow_anonymous true"]
        if persistence:
            lines += ["persistence true", "persistence_location %s/" % self.dir, "autosave_interval 1"]
        else:
            lines += ["persistence false"]
        with open(self.conf, "w") as f:
            f.write("\n".join(lines) + "\n")
        self.log = os.path.join(self.dir, "mosquitto.log")

    def start(self, timeout=10.0):
        logf = open(self.log, "ab")
        self.proc = subprocess.Popen([self.exe, "-c", self.conf], stdout=logf, stderr=subprocess.STDOUT)
        logf.close()
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                with open(self.log) as f:
                    raise RuntimeError("mosquitto exited: %s" % f.read()[-2000:])
            try:
                socket.create_connection(("127.0.0.1", self.port), 0.2).close()
                return self
            except OSError:
                time.sleep(0.05)
        raise RuntimeError("mosquitto did not open port %d" % self.port)

    def kill(self, sig=signal.SIGKILL):
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(sig)
            self.proc.wait(10)
        self.proc = None

    stop = kill


@pytest.fixture
def broker(tmp_path):
    if find_mosquitto() is None:
        pytest.skip("MQTT tests need a real broker: the Debian mosquitto package is not installed "
                    "(run: %s)" % INSTALL_HINT)
    b = Mosquitto(tmp_path).start()
    yield b
    b.kill()


class Subscriber(object):
    """Collects messages; re-subscribes after every reconnect; ``ready`` is set on each SUBACK."""

    def __init__(self, port, topics=("edgepose/#",)):
        self.messages = []
        self.lock = threading.Lock()
        self.ready = threading.Event()
        self.topics = topics
        mqtt = pytest.importorskip("paho.mqtt.client")
        c = self.client = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id="test-sub-%d-%d" % (port, id(self)))
        c.reconnect_delay_set(1, 1)
        c.on_connect = self._on_connect
        c.on_subscribe = lambda cl, ud, mid, rcs, props: self.ready.set()
        c.on_message = self._on_message
        c.on_disconnect = lambda *a: self.ready.clear()
        c.connect_async("127.0.0.1", port, keepalive=5)
        c.loop_start()
        assert self.ready.wait(10), "test subscriber could not subscribe"

    def _on_connect(self, client, userdata, flags, reason_code, properties):
        client.subscribe([(t, 1) for t in self.topics])

    def _on_message(self, client, userdata, msg):
        with self.lock:
            self.messages.append((msg.topic, msg.payload.decode("utf-8"), msg.retain))

    def on(self, topic):
        with self.lock:
            return [(p, r) for t, p, r in self.messages if t == topic]

    def events(self):
        return [json.loads(p) for p, _ in self.on("edgepose/events")]

    def wait_for(self, pred, timeout=20.0):
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if pred():
                return True
            time.sleep(0.05)
        return False

    def close(self):
        self.client.disconnect()
        self.client.loop_stop()
