"""MQTT as the daemon and replay use it (issue 13), against the real broker on 127.0.0.1: sources
announced at start (a retained ON left by a crash is cleared), a reload that does not touch MQTT
keeps the connection, a replay burst of many sources (one with wildcards in its name) delivers every
change exactly once."""
import json
import time

import pytest

import helpers
from mosquitto import Subscriber, broker  # noqa: F401  (fixture)

mqtt = pytest.importorskip("paho.mqtt.client")

from edgepose.replay import replay  # noqa: E402
from edgepose.sinks import SinkSet  # noqa: E402
from edgepose.sinks.config import SinksConfig  # noqa: E402


def Sub(port, topics=("edgepose/#", "homeassistant/#")):
    return Subscriber(port, topics=topics)


def sinks_config(port, tmp_path, **mqtt_kw):
    m = dict(enabled=True, port=port, queue_dir=str(tmp_path / "q"), client_id="edgepose-svc-test",
             reconnect_min_s=1, reconnect_max_s=1)
    m.update(mqtt_kw)
    return SinksConfig(log={"enabled": False}, mqtt=m)


def test_every_configured_source_is_announced_at_start_clearing_a_stale_on(broker, tmp_path):
    pub = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2)
    pub.connect("127.0.0.1", broker.port)
    pub.loop_start()
    pub.publish("edgepose/hall/person_down", "ON", qos=1, retain=True).wait_for_publish(5)  # left by a crash
    pub.disconnect()
    pub.loop_stop()
    sinks = SinkSet.from_config(sinks_config(broker.port, tmp_path), sources=["hall", "office"])
    try:
        sub = Sub(broker.port)  # a late subscriber: sees the retained values
        try:
            assert sub.wait_for(lambda: [p for p, _ in sub.on("edgepose/hall/person_down")][-1:] == ["OFF"]
                                and sub.on("edgepose/office/person_down")), sub.messages
            assert sub.wait_for(lambda: sub.on("homeassistant/binary_sensor/edgepose_office/person_down/config"))
        finally:
            sub.close()
    finally:
        sinks.close(2.0)


def test_a_reload_that_does_not_touch_mqtt_keeps_the_connection(broker, tmp_path):
    cfg = sinks_config(broker.port, tmp_path)
    sinks = SinkSet.from_config(cfg, sources=["hall"])
    sub = Sub(broker.port, topics=("edgepose/available",))
    try:
        assert sub.wait_for(lambda: sub.on("edgepose/available"))
        mqtt_sink = sinks.sinks[0]
        assert sinks.replace(cfg.model_copy(update={"log": cfg.log.model_copy(update={"enabled": True})}))
        assert sinks.sinks[-1] is mqtt_sink and len(sinks) == 2  # kept, the log sink added
        time.sleep(1.5)
        assert [p for p, _ in sub.on("edgepose/available")] == ["online"]  # no offline -> online blip
        # a change of the MQTT section itself builds a new sink, which takes over the person-down state
        mqtt_sink.handle(helpers.change("new", id="f1", label="fall", source="hall"))
        assert sub.wait_for(lambda: mqtt_sink.stats()["queued"] == 0)
        assert sinks.replace(sinks_config(broker.port, tmp_path, keepalive_s=20))
        new = sinks.sinks[0]
        assert new is not mqtt_sink and new.topics.down == {"hall": {"f1"}}
    finally:
        sinks.close(2.0)
        sub.close()


def test_replay_burst_of_many_sources_delivers_every_change_once(broker, tmp_path):
    rec = tmp_path / "poses.jsonl"
    scenes = {("room%02d" % i if i else "a+b/#"): helpers.make_scene("fall_sideways", i)[0] for i in range(20)}
    helpers.write_recording(rec, scenes)
    events = tmp_path / "events.jsonl"
    sub = Sub(broker.port, topics=("edgepose/events",))
    try:
        st = replay(str(rec), sinks_config=sinks_config(broker.port, tmp_path), events_path=str(events))
        want = [(c["after"]["id"], c["type"]) for c in map(json.loads, events.read_text().splitlines())]
        assert st.changes == len(want) and len(st.sources) == 20 and len(want) >= 20
        assert sub.wait_for(lambda: len(sub.on("edgepose/events")) >= len(want), 30)
        time.sleep(0.5)
        got = [(e["after"]["id"], e["type"]) for e in (json.loads(p) for p, _ in sub.on("edgepose/events"))]
        assert got == want  # every change, in order, none twice (no fault here)
    finally:
        sub.close()
