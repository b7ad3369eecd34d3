"""A real Mosquitto broker for tests: 127.0.0.1, a free port, a generated config.

``Mosquitto(tmpdir).start()`` / ``.kill()`` / ``.start()`` again on the same port. Tests that use
the ``broker`` fixture skip with a loud reason when the Debian ``mosquitto`` package is missing
(install it with ``apt-get install -y mosquitto``).
"""
import os
import shutil
import signal
import socket
import subprocess
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
