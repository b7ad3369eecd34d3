"""MQTT sink against a real Mosquitto broker on 127.0.0.1 (see tests/mosquitto.py).

The broker is SIGKILLed while events are produced and restarted on the same port; every event must
arrive exactly once (after de-duplication by id + type, QoS 1 being at-least-once) and in order.
"""
import json
import logging
import os
import signal
import time

import pytest

import helpers
from mosquitto import Subscriber, broker  # noqa: F401  (fixture)

mqtt = pytest.importorskip("paho.mqtt.client")

from edgepose.sinks.config import MqttSinkConfig  # noqa: E402
from edgepose.sinks.diskqueue import DiskQueue  # noqa: E402
from edgepose.sinks.mqtt import MqttSink  # noqa: E402


def change(i, kind="new", source="cam1", label="fall"):
    return helpers.change(kind, id="ev%04d" % i, label=label, source=source, track_id=1, start_time=float(i),
                          detected_time=i + 0.5, score=0.9, box=[1, 2, 3, 4],
                          end_time=None if kind != "end" else i + 1.0)


def unique_in_order(events):
    seen, out = set(), []
    for e in events:
        key = (e["after"]["id"], e["type"])
        if key not in seen:
            seen.add(key)
            out.append(key)
    return out


def sink_config(port, tmp_path, **kw):
    base = dict(enabled=True, port=port, queue_dir=str(tmp_path / "q"), reconnect_min_s=4, reconnect_max_s=4,
                client_id="edgepose-test", keepalive_s=5)
    base.update(kw)
    return MqttSinkConfig(**base)


def test_broker_killed_while_producing_every_event_arrives_once_in_order(broker, tmp_path):
    sub = Subscriber(broker.port)
    sink = MqttSink(sink_config(broker.port, tmp_path))
    try:
        assert sub.wait_for(lambda: sub.on("edgepose/available") and sub.on("edgepose/available")[-1][0] == "online", 10)
        n = 30
        for i in range(n):
            sink.handle(change(i))
            if i == 10:
                broker.kill()  # SIGKILL: no goodbye, in-flight messages are lost on the broker side
                sub.ready.clear()
            if i == 20:
                assert len(sink.queue) >= 9  # the outage's events wait on disk
                broker.start()  # the subscriber reconnects within ~1 s, the sink after 4 s
                assert sub.ready.wait(10)
            time.sleep(0.05)
        want = [("ev%04d" % i, "new") for i in range(n)]
        assert sub.wait_for(lambda: len(unique_in_order(sub.events())) >= n, 30), \
            "only %d of %d events arrived" % (len(unique_in_order(sub.events())), n)
        assert unique_in_order(sub.events()) == want  # every event, in order, once after de-dup
        assert sub.wait_for(lambda: len(sink.queue) == 0, 10), "messages left in the disk queue"
        assert sink.stats()["sent"] >= n
    finally:
        sink.close(2.0)
        sub.close()


def test_disk_queue_survives_a_restart_of_the_sink(broker, tmp_path):
    broker.kill()
    sink = MqttSink(sink_config(broker.port, tmp_path))
    for i in range(5):
        sink.handle(change(i))
    sink.handle(change(0, kind="end"))
    time.sleep(0.5)
    sink.close(0.5)  # broker down: everything stays on disk
    left = DiskQueue(tmp_path / "q", fsync=False)
    assert len(left) >= 6
    left.close()
    broker.start()
    sub = Subscriber(broker.port)
    sink2 = MqttSink(sink_config(broker.port, tmp_path))
    try:
        want = [("ev%04d" % i, "new") for i in range(5)] + [("ev0000", "end")]
        assert sub.wait_for(lambda: len(unique_in_order(sub.events())) >= 6, 20)
        assert unique_in_order(sub.events()) == want
        # per-source state: person_down went ON with the first fall and stays ON (4 falls still open)
        assert sub.wait_for(lambda: sub.on("edgepose/cam1/person_down"), 5)
        assert sub.on("edgepose/cam1/person_down")[-1][0] == "ON"
        alerts = [json.loads(p) for p, _ in sub.on("edgepose/cam1/alert")]
        assert [a["event_type"] for a in alerts] == ["fall"] * 5
    finally:
        sink2.close(2.0)
        sub.close()


def test_home_assistant_discovery_is_resent_when_ha_comes_online(broker, tmp_path):
    sub = Subscriber(broker.port, topics=("homeassistant/#", "edgepose/#"))
    sink = MqttSink(sink_config(broker.port, tmp_path, sources=["kitchen"]))
    try:
        bs = "homeassistant/binary_sensor/edgepose_kitchen/person_down/config"
        ev = "homeassistant/event/edgepose_kitchen/alert/config"
        assert sub.wait_for(lambda: sub.on(bs) and sub.on(ev), 10)
        cfg = json.loads(sub.on(bs)[0][0])
        assert cfg["state_topic"] == "edgepose/kitchen/person_down"
        assert cfg["availability_topic"] == "edgepose/available"
        assert "fall" in json.loads(sub.on(ev)[0][0])["event_types"]
        before = len(sub.on(bs))
        pub = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2)
        pub.connect("127.0.0.1", broker.port)
        pub.loop_start()
        pub.publish("homeassistant/status", "online", qos=1).wait_for_publish(5)
        assert sub.wait_for(lambda: len(sub.on(bs)) > before, 10)
        pub.disconnect()
        pub.loop_stop()
        assert sub.wait_for(lambda: ("OFF", False) in sub.on("edgepose/kitchen/person_down") or
                            ("OFF", True) in sub.on("edgepose/kitchen/person_down"), 5)
    finally:
        sink.close(2.0)
        sub.close()


def test_last_will_says_offline_when_the_sink_dies(broker, tmp_path):
    sink = MqttSink(sink_config(broker.port, tmp_path, keepalive_s=5))
    sub = Subscriber(broker.port)
    try:
        assert sub.wait_for(lambda: ("online", True) in sub.on("edgepose/available")
                            or ("online", False) in sub.on("edgepose/available"), 10)
        # an abrupt death: the socket goes away without DISCONNECT, the broker sends the will
        sink._stop.set()
        sink.client.loop_stop()
        sink.client.socket().close()
        assert sub.wait_for(lambda: sub.on("edgepose/available")[-1][0] == "offline", 20)
    finally:
        sub.close()


def test_graceful_close_publishes_offline_retained(broker, tmp_path):
    sink = MqttSink(sink_config(broker.port, tmp_path))
    time.sleep(0.5)
    sink.handle(change(1))
    sink.close(3.0)
    sub = Subscriber(broker.port)  # a late subscriber sees the retained values
    try:
        assert sub.wait_for(lambda: sub.on("edgepose/available"), 5)
        assert sub.on("edgepose/available")[-1] == ("offline", True)
        assert sub.wait_for(lambda: sub.on("edgepose/cam1/last_event"), 5)
        assert json.loads(sub.on("edgepose/cam1/last_event")[-1][0])["id"] == "ev0001"
    finally:
        sub.close()


# -- faults of issue 13 ---------------------------------------------------------------------------------
def raw_keys(sub):
    return [(e["after"]["id"], e["type"]) for e in sub.events()]


def test_wildcards_in_a_source_name_never_stop_mqtt(broker, tmp_path):
    """A recording's source 'a+b/#' used to make publish raise and kill the worker for good."""
    sub = Subscriber(broker.port)
    sink = MqttSink(sink_config(broker.port, tmp_path))
    try:
        sink.handle(change(1, source="a+b/#"))
        sink.handle(change(2, source="cam1"))
        assert sub.wait_for(lambda: len(sub.events()) >= 2, 10), sub.messages
        assert [e["after"]["source"] for e in sub.events()] == ["a+b/#", "cam1"]  # the payload keeps the name
        assert sub.wait_for(lambda: sub.on("edgepose/a_b__/last_event"), 5)  # one safe topic level
        assert sink._thread.is_alive() and sink.stats()["failed"] == 0
    finally:
        sink.close(2.0)
        sub.close()


def test_a_refused_or_damaged_message_is_set_aside_and_the_queue_goes_on(broker, tmp_path):
    from edgepose.sinks.mqtt_topics import record

    broker.kill()
    q = DiskQueue(tmp_path / "q", fsync=False)
    q.put(record("edgepose/x/+/bad", "refused by paho"))  # written by an older version: a wildcard topic
    q.put(b"{not json")
    q.put(record("edgepose/ok", "fine"))
    (tmp_path / "q" / "00000000000000000050.seg").write_bytes(b"garbage, not a segment")
    q.close()
    broker.start()
    sub = Subscriber(broker.port, topics=("edgepose/#",))
    sink = MqttSink(sink_config(broker.port, tmp_path))
    try:
        sink.handle(change(7))
        assert sub.wait_for(lambda: sub.on("edgepose/ok") and sub.events(), 10)
        assert sub.wait_for(lambda: len(sink.queue) == 0, 5)
        assert sink.stats()["failed"] == 3 and sink._thread.is_alive()
        rejected = sorted(p.name for p in (tmp_path / "q" / "rejected").iterdir())
        assert len(rejected) == 3 and "00000000000000000050.seg" in rejected
    finally:
        sink.close(2.0)
        sub.close()
    sink2 = MqttSink(sink_config(broker.port, tmp_path))  # and nothing bad is left at the head
    try:
        assert sink2.stats()["failed"] == 0 and len(sink2.queue) == 0
    finally:
        sink2.close(1.0)


def test_no_duplicates_without_a_fault(broker, tmp_path):
    sub = Subscriber(broker.port)
    sink = MqttSink(sink_config(broker.port, tmp_path, max_inflight=5))
    try:
        n = 300
        for i in range(n):
            sink.handle(change(i))
            if i % 50 == 0:
                time.sleep(0.02)
        assert sub.wait_for(lambda: len(sub.events()) >= n, 30), len(sub.events())
        time.sleep(0.5)
        assert raw_keys(sub) == [("ev%04d" % i, "new") for i in range(n)]  # raw: no de-duplication
        assert sink.stats()["sent"] == len([m for m in sub.messages if m[0] != "edgepose/available"])
    finally:
        sink.close(2.0)
        sub.close()


def test_stale_pubacks_never_remove_an_unacknowledged_message(broker, tmp_path):
    """PUBACK ids that match nothing in flight (online, discovery, older ones) are ignored: a message
    leaves the disk only on its own PUBACK (the broker is frozen, so none comes)."""
    sub = Subscriber(broker.port)
    sink = MqttSink(sink_config(broker.port, tmp_path, retry_unacked_s=60))
    try:
        assert sub.wait_for(lambda: sub.on("edgepose/available"), 10)
        time.sleep(0.3)
        next_mid = sink.client._last_mid + 1
        for mid in range(next_mid, next_mid + 50):  # acks for the mids the next publishes will get
            sink._on_publish(sink.client, None, mid, None, None)
        os.kill(broker.proc.pid, signal.SIGSTOP)
        try:
            for i in range(5):
                sink.handle(change(i))
            assert sub.wait_for(lambda: sink._inbox.empty() and not sink._pending, 5)
            deadline = time.monotonic() + 1.5
            while time.monotonic() < deadline:
                assert len(sink.queue) >= 5 * 3  # events, last_event, alert of each, none removed
                time.sleep(0.05)
            assert sink.stats()["sent"] == 0
        finally:
            os.kill(broker.proc.pid, signal.SIGCONT)
        assert sub.wait_for(lambda: len(sub.events()) >= 5, 10)
        assert raw_keys(sub) == [("ev%04d" % i, "new") for i in range(5)]
    finally:
        sink.close(2.0)
        sub.close()


def test_burst_is_published_while_it_arrives_and_nothing_is_lost_at_close(broker, tmp_path):
    """100 sources, changes faster than one fsync each: publishing starts at once; at close the rest is
    spilled to disk and sent at the next start."""
    sub = Subscriber(broker.port, topics=("edgepose/events",))
    sink = MqttSink(sink_config(broker.port, tmp_path))
    n = 3000
    try:
        t0 = time.monotonic()
        seen_during = 0
        for i in range(n):
            sink.handle(change(i, source="cam%03d" % (i % 100)))
            if i == n // 2:
                time.sleep(0.3)
                seen_during = len(sub.events())
        assert time.monotonic() - t0 < 10
        assert seen_during > 0, "nothing published while the burst arrived"
    finally:
        sink.close(0.2)  # far too short to deliver it all
    left = len(sub.events())
    sink2 = MqttSink(sink_config(broker.port, tmp_path))
    try:
        assert sub.wait_for(lambda: len(sub.events()) >= n, 60), "%d + %d of %d" % (left, len(sub.events()) - left, n)
        time.sleep(0.3)
        assert raw_keys(sub) == [("ev%04d" % i, "new") for i in range(n)]  # none lost, none twice, in order
    finally:
        sink2.close(2.0)
        sub.close()


def test_unreachable_broker_is_logged_once_then_rate_limited(tmp_path, caplog):
    from mosquitto import free_port

    sink = MqttSink(sink_config(free_port(), tmp_path, reconnect_min_s=1, reconnect_max_s=1))
    try:
        with caplog.at_level(logging.WARNING, logger="edgepose.sinks.mqtt"):
            sink.handle(change(1))
            time.sleep(3.5)
        lines = [r.getMessage() for r in caplog.records if "cannot connect" in r.getMessage()
                 or "still unreachable" in r.getMessage()]
        assert len(lines) == 1 and "cannot connect" in lines[0] and "wait on disk" in lines[0], lines
        assert sink._outage.attempts >= 2 and sink.stats()["connected"] is False
    finally:
        sink.close(0.3)


def test_a_disk_that_refuses_writes_loses_nothing(broker, tmp_path, monkeypatch):
    sub = Subscriber(broker.port)
    sink = MqttSink(sink_config(broker.port, tmp_path))
    real = sink.queue.put_many
    state = {"fail": True}

    def put_many(items):
        if state["fail"]:
            raise OSError(24, "Too many open files")
        return real(items)

    monkeypatch.setattr(sink.queue, "put_many", put_many)
    try:
        for i in range(10):
            sink.handle(change(i))
        time.sleep(1.0)
        assert len(sub.events()) == 0 and len(sink._pending) >= 10
        state["fail"] = False
        assert sub.wait_for(lambda: len(sub.events()) >= 10, 10)
        assert raw_keys(sub) == [("ev%04d" % i, "new") for i in range(10)]
    finally:
        sink.close(2.0)
        sub.close()
