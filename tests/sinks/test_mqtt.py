"""MQTT sink against a real Mosquitto broker on 127.0.0.1 (see tests/mosquitto.py).

The broker is SIGKILLed while events are produced and restarted on the same port; every event must
arrive exactly once (after de-duplication by id + type, QoS 1 being at-least-once) and in order.
"""
import json
import threading
import time

import pytest

import helpers
from mosquitto import Mosquitto, broker  # noqa: F401  (fixture)

mqtt = pytest.importorskip("paho.mqtt.client")

from edgepose.sinks.config import MqttSinkConfig  # noqa: E402
from edgepose.sinks.mqtt import MqttSink  # noqa: E402


def change(i, kind="new", source="cam1", label="fall"):
    return helpers.change(kind, id="ev%04d" % i, label=label, source=source, track_id=1, start_time=float(i),
                          detected_time=i + 0.5, score=0.9, box=[1, 2, 3, 4],
                          end_time=None if kind != "end" else i + 1.0)


class Subscriber(object):
    """Collects messages; re-subscribes after every reconnect; ``ready`` is set on each SUBACK."""

    def __init__(self, port, topics=("edgepose/#",)):
        self.messages = []
        self.lock = threading.Lock()
        self.ready = threading.Event()
        self.topics = topics
        c = self.client = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id="test-sub-%d" % port)
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
        assert sink.stats()["acked"] >= n
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
    assert len(list((tmp_path / "q").glob("*.msg"))) >= 6
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
