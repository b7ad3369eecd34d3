"""Sinks without a network: disk queue, JSONL, log, snapshots, build_sinks, secrets, config."""
import json
import logging
import os
import time

import numpy as np
import pytest

from edgepose.errors import ConfigError
from edgepose.sinks import SinkSet, build_sinks
from edgepose.sinks.config import SinksConfig
from edgepose.sinks.diskqueue import DiskQueue
from edgepose.validation import read_secret, validate
import helpers


def change(i, kind="new", label="fall"):
    return helpers.change(kind, keypoints=True, id="e%d" % i, label=label, source="cam 1")


# -- disk queue -------------------------------------------------------------------------------------
def test_disk_queue_is_fifo_and_survives_restart(tmp_path):
    q = DiskQueue(tmp_path / "q", max_items=100, fsync=False)
    seqs = [q.put(b"m%d" % i) for i in range(5)]
    assert seqs == sorted(seqs)
    assert [d for _, d in q.peek(3)] == [b"m0", b"m1", b"m2"]
    q.remove(seqs[0])
    (tmp_path / "q" / "00000000000000000099.msg.tmp").write_bytes(b"half")  # an interrupted write
    q.close()  # (or the process died: the lock goes with it)
    q2 = DiskQueue(tmp_path / "q", max_items=100)
    assert [d for _, d in q2.peek(10)] == [b"m1", b"m2", b"m3", b"m4"]
    assert not list((tmp_path / "q").glob("*.tmp"))
    assert q2.put(b"m5") > seqs[-1]  # numbering continues after the restart
    assert [d for _, d in q2.peek(10, after=seqs[2])] == [b"m3", b"m4", b"m5"]


def test_disk_queue_is_bounded_dropping_the_oldest(tmp_path):
    q = DiskQueue(tmp_path, max_items=3, fsync=False)
    for i in range(5):
        q.put(b"%d" % i)
    assert [d for _, d in q.peek(10)] == [b"2", b"3", b"4"]
    assert q.dropped == 2 and len(list(tmp_path.glob("*.seg"))) == 3


# -- jsonl / log --------------------------------------------------------------------------------------
def test_jsonl_sink_writes_the_public_feed(tmp_path):
    path = tmp_path / "events.jsonl"
    sinks = SinkSet.from_config(SinksConfig(log={"enabled": False}, jsonl={"enabled": True, "path": str(path)}))
    sinks.send([change(1), change(1, "end")])
    sinks.close(2)
    lines = [json.loads(x) for x in path.read_text().splitlines()]
    assert [(x["type"], x["after"]["id"]) for x in lines] == [("new", "e1"), ("end", "e1")]  # the JSON feed
    assert set(lines[0]) == {"type", "before", "after"}


def test_jsonl_folder_must_exist(tmp_path):
    with pytest.raises(Exception, match="does not exist"):
        build_sinks(SinksConfig(jsonl={"enabled": True, "path": str(tmp_path / "no" / "e.jsonl")}))


def test_log_sink_one_line(caplog):
    sinks = SinkSet.from_config(SinksConfig())
    with caplog.at_level(logging.INFO, logger="edgepose.events"):
        sinks.send([change(7)])
    rec = [r for r in caplog.records if r.name == "edgepose.events"]
    assert len(rec) == 1 and rec[0].levelno == logging.WARNING
    assert "fall new cam 1 track 3" in rec[0].getMessage() and "id e7" in rec[0].getMessage()


# -- snapshots ----------------------------------------------------------------------------------------
def test_snapshot_is_written_before_the_other_sinks_see_the_change(tmp_path):
    cv2 = pytest.importorskip("cv2")
    seen = []

    class Spy(object):
        def handle(self, ch, frame=None):
            a = ch.after
            seen.append((ch.type, a.has_snapshot, a.snapshot, a.snapshot is not None and os.path.isfile(a.snapshot)))

    cfg = SinksConfig(log={"enabled": False}, snapshots={"enabled": True, "dir": str(tmp_path / "s")})
    sinks = SinkSet(build_sinks(cfg) + [Spy()])
    frame = np.zeros((480, 640, 3), np.uint8)
    first = change(1)
    sent = sinks.send([first], frame=frame)
    assert sent[0].after.snapshot == seen[0][2] and first.after.snapshot is None  # returned, not written in
    sinks.send([change(1, "update")], frame=frame)
    sinks.send([change(1, "end")])
    sinks.send([change(2)])  # no frame: no snapshot, and the change says so
    assert seen[0][1] and seen[0][3]
    assert seen[1][2] == seen[0][2] and seen[2][2] == seen[0][2]
    assert seen[3] == ("new", False, None, False)
    img = cv2.imread(seen[0][2])
    assert img.shape == (480, 640, 3) and img.sum() > 0  # the skeleton/box were drawn
    assert not list((tmp_path / "s").glob("*.tmp"))
    assert " " not in os.path.basename(seen[0][2])


def test_snapshot_keep_max(tmp_path):
    pytest.importorskip("cv2")
    sinks = SinkSet.from_config(SinksConfig(log={"enabled": False},
                                            snapshots={"enabled": True, "dir": str(tmp_path), "keep_max": 2}))
    for i in range(4):
        sinks.send([change(i)], frame=np.zeros((60, 80, 3), np.uint8))
    assert len(list(tmp_path.glob("*.jpg"))) == 2


# -- config / secrets ---------------------------------------------------------------------------------
def test_secrets_come_from_env_or_credentials_directory(tmp_path, monkeypatch):
    monkeypatch.delenv("EDGEPOSE_MQTT_PASSWORD", raising=False)
    monkeypatch.setenv("CREDENTIALS_DIRECTORY", str(tmp_path))
    assert read_secret("EDGEPOSE_MQTT_PASSWORD", "mqtt_password") is None
    (tmp_path / "mqtt_password").write_text("from-file\n")
    assert read_secret("EDGEPOSE_MQTT_PASSWORD", "mqtt_password") == "from-file"
    monkeypatch.setenv("EDGEPOSE_MQTT_PASSWORD", "from-env")
    assert read_secret("EDGEPOSE_MQTT_PASSWORD", "mqtt_password") == "from-env"


def test_sinks_config_rejects_secrets_and_unknown_keys():
    with pytest.raises(ConfigError, match="mqtt.password: .*unknown key"):
        validate(SinksConfig, {"mqtt": {"password": "x"}}, "c.yaml")
    with pytest.raises(ConfigError, match="webhook"):
        validate(SinksConfig, {"webhook": {"enabled": True}}, "c.yaml")
    cfg = validate(SinksConfig, {"mqtt": {"enabled": True, "port": 8883, "tls": True}}, "c.yaml")
    assert cfg.mqtt.qos == 1 and cfg.mqtt.topic_prefix == "edgepose"


def test_a_failing_sink_does_not_stop_the_others():
    got = []

    class Bad(object):
        def handle(self, ch, frame=None):
            raise RuntimeError("boom")

    class Good(object):
        def handle(self, ch, frame=None):
            got.append(ch.after.id)

    sinks = SinkSet([Bad(), Good()])
    sinks.send([change(1), change(2)], "cam")
    assert got == ["e1", "e2"] and sinks.errors == 2


def test_sink_set_replace_close_and_depths(tmp_path, monkeypatch):
    import edgepose.sinks.sinkset as sinkset

    closed = []

    class Queued(object):
        name = "q"

        def __init__(self, depth):
            self.depth = depth

        def handle(self, ch, frame=None):
            pass

        def stats(self):
            return {"queued": self.depth}

        def close(self, timeout=None):
            closed.append((self.depth, timeout))

    sinks = SinkSet([Queued(3), object.__new__(Queued)])
    sinks.sinks[1].depth = None  # a sink that does not queue is not listed
    assert sinks.depths() == [("q", 3)]

    def broken(cfg, **kw):
        raise ValueError("cannot connect")

    monkeypatch.setattr(sinkset, "build_sinks", broken)
    assert sinks.replace(SinksConfig()) is False and sinks.depths() == [("q", 3)]  # the old sinks stay
    monkeypatch.setattr(sinkset, "build_sinks", lambda cfg, **kw: [Queued(5)])
    assert sinks.replace(SinksConfig()) is True and sinks.depths() == [("q", 5)]
    assert sinks.share(2.0) == 2.0
    sinks.close(2.0)
    assert len(sinks) == 0 and (5, 2.0) in closed
    deadline = time.monotonic() + 3
    while len(closed) < 3 and time.monotonic() < deadline:  # the replaced ones close in the background
        time.sleep(0.01)
    assert {d for d, _ in closed} == {None, 3, 5}


def test_disk_queue_folder_is_locked(tmp_path):
    from edgepose.sinks.diskqueue import QueueBusy

    q = DiskQueue(tmp_path, fsync=False)
    with pytest.raises(QueueBusy, match="in use"):
        DiskQueue(tmp_path)
    q.close()
    DiskQueue(tmp_path).close()


def test_mqtt_sink_waits_for_a_busy_queue_and_never_blocks(tmp_path):
    pytest.importorskip("paho.mqtt.client")
    import time

    from edgepose.sinks.config import MqttSinkConfig
    from edgepose.sinks.mqtt import MqttSink
    from mosquitto import free_port

    held = DiskQueue(tmp_path / "q", fsync=False)  # the previous sink, still closing
    sink = MqttSink(MqttSinkConfig(enabled=True, port=free_port(), queue_dir=str(tmp_path / "q")))
    t0 = time.monotonic()
    for i in range(3):
        sink.handle(change(i))  # no broker, busy queue: still returns at once
    assert time.monotonic() - t0 < 0.1
    time.sleep(0.5)
    assert sink.queue is None
    held.close()
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline and (sink.queue is None or len(sink.queue) < 3):
        time.sleep(0.05)
    assert sink.queue is not None and len(sink.queue) >= 3  # 3 events + per-source state, on disk
    sink.close(0.5)


def test_private_files_outside_systemd(tmp_path, monkeypatch):
    """Snapshots, the event feed and the MQTT queue say who fell where: 0600 files, 0700 folders,
    whatever the umask of a desktop session (0022)."""
    import stat

    cv2 = pytest.importorskip("cv2")  # noqa: F841
    old = os.umask(0o022)
    try:
        feed = tmp_path / "events.jsonl"
        sinks = SinkSet.from_config(SinksConfig(log={"enabled": False}, jsonl={"enabled": True, "path": str(feed)},
                                                snapshots={"enabled": True, "dir": str(tmp_path / "snaps")}))
        sinks.send([change(1)], frame=np.zeros((48, 64, 3), np.uint8))
        sinks.close(2)
        q = DiskQueue(tmp_path / "q", fsync=False)
        q.put(b"x")
        q.close()
    finally:
        os.umask(old)

    def mode(p):
        return stat.S_IMODE(os.stat(str(p)).st_mode)

    snaps = list((tmp_path / "snaps").glob("*.jpg"))
    assert len(snaps) == 1 and mode(snaps[0]) == 0o600 and mode(tmp_path / "snaps") == 0o700
    assert mode(feed) == 0o600
    assert mode(tmp_path / "q") == 0o700 and all(mode(p) == 0o600 for p in (tmp_path / "q").iterdir())
