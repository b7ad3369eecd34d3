"""The systemd notify protocol on a real AF_UNIX datagram socket, and the frame watchdog logic."""
import os
import socket
import uuid

import pytest

from edgepose.service.sdnotify import FrameWatchdog, Notifier, watchdog_interval


@pytest.fixture
def notify_socket(tmp_path):
    path = str(tmp_path / "notify.sock")
    s = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    s.bind(path)
    s.settimeout(2)
    yield path, s
    s.close()


def recv(sock):
    return sock.recv(4096).decode()


def test_messages_reach_the_socket(notify_socket):
    path, sock = notify_socket
    n = Notifier(path)
    assert n.enabled
    assert n.ready(status="loading done")
    assert recv(sock).split("\n") == ["READY=1", "STATUS=loading done"]
    n.status("12.5 fps, 2 people")
    assert recv(sock) == "STATUS=12.5 fps, 2 people"
    n.watchdog()
    assert recv(sock) == "WATCHDOG=1"
    n.reloading()
    lines = recv(sock).split("\n")
    assert lines[0] == "RELOADING=1" and lines[1].startswith("MONOTONIC_USEC=")
    assert int(lines[1].split("=")[1]) > 0
    n.stopping()
    assert recv(sock) == "STOPPING=1"
    n.status("two\nlines")
    assert recv(sock) == "STATUS=two lines"
    n.close()


def test_abstract_namespace_socket():
    name = "edgepose-test-%s" % uuid.uuid4().hex
    s = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    s.bind("\0" + name)
    s.settimeout(2)
    try:
        n = Notifier("@" + name)
        assert n.ready()
        assert s.recv(100) == b"READY=1"
    finally:
        s.close()


def test_disabled_without_socket(monkeypatch):
    monkeypatch.delenv("NOTIFY_SOCKET", raising=False)
    n = Notifier()
    assert not n.enabled
    assert n.ready() is False and n.watchdog() is False


def test_gone_socket_never_raises(tmp_path):
    n = Notifier(str(tmp_path / "missing.sock"))
    assert n.enabled
    assert n.notify("READY=1") is False


def test_watchdog_interval_from_env():
    assert watchdog_interval({}) is None
    assert watchdog_interval({"WATCHDOG_USEC": "3000000"}) == 3.0
    assert watchdog_interval({"WATCHDOG_USEC": "3000000", "WATCHDOG_PID": str(os.getpid())}) == 3.0
    assert watchdog_interval({"WATCHDOG_USEC": "3000000", "WATCHDOG_PID": "1"}) is None
    assert watchdog_interval({"WATCHDOG_USEC": "zero"}) is None


class FakeNotifier:
    enabled = True

    def __init__(self):
        self.pings = 0

    def watchdog(self):
        self.pings += 1
        return True


def test_watchdog_pings_only_while_frames_flow():
    clock = [100.0]
    n = FakeNotifier()
    wd = FrameWatchdog(n, interval=2.0, clock=lambda: clock[0])
    assert wd.check()  # starting: model loading is covered by TimeoutStartSec
    assert n.pings == 1
    wd.beat()
    clock[0] += 0.5
    assert wd.check() and n.pings == 2
    clock[0] += 0.6  # 1.1 s since the last frame > interval/2
    assert not wd.check() and n.pings == 2
    wd.paused = True  # a reload in progress keeps the service alive
    assert wd.check() and n.pings == 3
    wd.paused = False
    wd.beat()
    assert wd.check() and n.pings == 4


def test_watchdog_thread_stops_pinging_when_stalled(notify_socket):
    import time

    path, sock = notify_socket
    sock.settimeout(0.05)
    wd = FrameWatchdog(Notifier(path), interval=0.4).start()
    try:
        wd.beat()
        got = []
        end = time.monotonic() + 0.15
        while time.monotonic() < end:
            try:
                got.append(sock.recv(100))
            except socket.timeout:
                pass
        assert b"WATCHDOG=1" in got
        time.sleep(0.35)  # no beats: stalled
        while True:  # drain what was sent before the stall was noticed
            try:
                sock.recv(100)
            except socket.timeout:
                break
        with pytest.raises(socket.timeout):
            sock.recv(100)
    finally:
        wd.stop()
