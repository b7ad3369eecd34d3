"""MQTT sink (paho-mqtt 2.x): Frigate-style topics, Home Assistant discovery, nothing lost offline.

Topics (PREFIX = ``topic_prefix``):
  PREFIX/available            ``online`` (retained) on connect; ``offline`` as the retained last will
  PREFIX/events               every change ``{"type", "before", "after"}``, QoS 1
  PREFIX/SOURCE/person_down   ``ON`` / ``OFF`` (retained): a fall or long lie is open on SOURCE
  PREFIX/SOURCE/last_event    the latest change's ``after`` (retained)
  PREFIX/SOURCE/alert         ``{"event_type": label, ...}`` on each new alert (HA event entity)
Home Assistant discovery (retained, re-sent when ``homeassistant/status`` says ``online``):
  DISCOVERY/binary_sensor/NODE_SOURCE/person_down/config and DISCOVERY/event/NODE_SOURCE/alert/config.

Delivery: ``handle`` only enqueues in memory; a worker thread appends each message to an on-disk
queue (``DiskQueue``), and publishes the head of that queue while connected, one message in
flight at a time, removing it from disk only on the broker's PUBACK (``on_publish``). So messages
survive a broker outage and a restart of this process, and arrive in order. QoS 1 is
at-least-once: after a crash between PUBACK and removal, one message may arrive twice; consumers
de-duplicate by ``after.id`` + ``type`` (as with Frigate).
"""
import json
import logging
import os
import queue
import socket
import threading
import time

from .. import deps
from ..errors import DependencyError
from .base import Sink, change_json
from ..validation import read_secret
from .diskqueue import DiskQueue, QueueBusy

log = logging.getLogger(__name__)

_DOWN_LABELS = ("fall", "long_lie", "person_down")


def default_queue_dir():
    state = os.environ.get("STATE_DIRECTORY")
    if state:
        return os.path.join(state.split(":")[0], "mqtt-queue")
    return os.path.join(os.path.expanduser("~"), ".cache", "edgepose", "mqtt-queue")


def _import_paho():
    mqtt = deps.load("paho", "sinks.mqtt (or turn sinks.mqtt.enabled off)")
    if not hasattr(mqtt, "CallbackAPIVersion"):
        raise DependencyError("sinks.mqtt needs paho-mqtt 2.x, found an older one: pip install -U 'paho-mqtt>=2.0'")
    return mqtt


class MqttSink(Sink):
    name = "mqtt"

    def __init__(self, config):
        mqtt = self._mqtt = _import_paho()
        self.cfg = cfg = config
        self.prefix = cfg.topic_prefix.rstrip("/")
        self.queue_dir = cfg.queue_dir or default_queue_dir()
        try:  # fails fast on a folder that cannot be created; a busy one is retried by the worker
            self.queue = DiskQueue(self.queue_dir, cfg.queue_max_messages)
        except QueueBusy:
            log.info("mqtt: queue %s busy (the previous sink is still closing); waiting for it", self.queue_dir)
            self.queue = None
        self._inbox = queue.Queue(maxsize=10000)
        self._lock = threading.Lock()
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._connected = False
        self._inflight = None  # (seq, mid, published at)
        self._early_acks = set()
        self._announced = set()
        self._down = {}  # source -> set of open fall/long_lie ids
        self.published = 0
        self.acked = 0
        self.dropped = 0
        client_id = cfg.client_id or "edgepose-%s" % socket.gethostname()
        c = self.client = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id=client_id,
                                      protocol=mqtt.MQTTv311, clean_session=True)
        c.will_set(self.prefix + "/available", "offline", qos=1, retain=True)
        if cfg.username:
            c.username_pw_set(cfg.username, read_secret(cfg.password_env, cfg.password_credential))
        if cfg.tls:
            c.tls_set(ca_certs=cfg.tls_ca, certfile=cfg.tls_cert, keyfile=cfg.tls_key)
            if cfg.tls_insecure:
                c.tls_insecure_set(True)
        c.reconnect_delay_set(max(1, int(round(cfg.reconnect_min_s))), max(1, int(round(cfg.reconnect_max_s))))
        c.on_connect = self._on_connect
        c.on_disconnect = self._on_disconnect
        c.on_publish = self._on_publish
        c.on_message = self._on_message
        c.connect_async(cfg.host, cfg.port, keepalive=cfg.keepalive_s)
        c.loop_start()
        self._thread = threading.Thread(target=self._run, name="sink-mqtt", daemon=True)
        self._thread.start()
        for s in cfg.sources:
            self._inbox.put(("announce", s))

    # -- the loop side ---------------------------------------------------------------------------
    def handle(self, change, frame=None):
        try:
            self._inbox.put_nowait(("change", change_json(change)))
        except queue.Full:
            self.dropped += 1
            log.error("mqtt sink: in-memory queue full (disk too slow?): change %s dropped",
                      change.after.id)
        self._wake.set()

    # -- paho callbacks (network thread) ---------------------------------------------------------
    def _on_connect(self, client, userdata, flags, reason_code, properties):
        if reason_code.is_failure:
            log.warning("mqtt %s:%d: connection refused: %s", self.cfg.host, self.cfg.port, reason_code)
            return
        log.info("mqtt: connected to %s:%d", self.cfg.host, self.cfg.port)
        client.publish(self.prefix + "/available", "online", qos=1, retain=True)
        if self.cfg.discovery:
            client.subscribe(self.cfg.discovery_prefix + "/status", qos=1)
            for s in self._announced_list():
                self._publish_discovery(s)
        with self._lock:
            self._connected = True
            if self._inflight is not None:  # paho re-sends it itself; restart its clock
                self._inflight = (self._inflight[0], self._inflight[1], time.monotonic())
        self._wake.set()

    def _on_disconnect(self, client, userdata, flags, reason_code, properties):
        with self._lock:
            self._connected = False
        if not self._stop.is_set():
            log.warning("mqtt %s:%d: disconnected (%s); queued messages wait on disk (%d)",
                        self.cfg.host, self.cfg.port, reason_code, self._queued())

    def _on_publish(self, client, userdata, mid, reason_code, properties):
        with self._lock:
            inf = self._inflight
            if inf is not None and inf[1] == mid:
                self._inflight = None
                seq = inf[0]
            else:
                self._early_acks.add(mid)
                return
        self.queue.remove(seq)
        self.acked += 1
        self._wake.set()

    def _on_message(self, client, userdata, msg):
        if msg.topic == self.cfg.discovery_prefix + "/status" and msg.payload.strip() == b"online":
            log.info("mqtt: Home Assistant is online: discovery re-sent")
            for s in self._announced_list():
                self._publish_discovery(s)

    # -- the worker -------------------------------------------------------------------------------
    def _run(self):
        while True:
            self._wake.wait(0.2)
            self._wake.clear()
            if self.queue is None:  # another sink still holds the folder (a reload): wait for it
                try:
                    self.queue = DiskQueue(self.queue_dir, self.cfg.queue_max_messages)
                except QueueBusy:
                    if self._stop.is_set():
                        return
                    continue
            self._drain_inbox()
            self._pump()
            if self._stop.is_set() and self._inbox.empty():
                return

    def _drain_inbox(self):
        while True:
            try:
                kind, item = self._inbox.get_nowait()
            except queue.Empty:
                return
            try:
                if kind == "announce":
                    self._announce(item)
                else:
                    self._enqueue_change(item)
            except Exception as e:
                log.error("mqtt sink: could not queue a message: %s", e)

    def _put(self, topic, payload, retain=False, qos=None):
        rec = {"topic": topic, "payload": payload, "retain": retain, "qos": self.cfg.qos if qos is None else qos}
        self.queue.put(json.dumps(rec, separators=(",", ":")).encode("utf-8"))

    def _enqueue_change(self, text):
        change = json.loads(text)
        after = change["after"]
        source = str(after.get("source") or "default")
        self._announce(source)
        self._put(self.prefix + "/events", text)
        src_topic = "%s/%s" % (self.prefix, source)
        self._put(src_topic + "/last_event", json.dumps(after, separators=(",", ":")), retain=True)
        if change["type"] == "new":
            alert = dict(after, event_type=after.get("label"))
            self._put(src_topic + "/alert", json.dumps(alert, separators=(",", ":")))
        if after.get("label") in _DOWN_LABELS:
            ids = self._down.setdefault(source, set())
            was = bool(ids)
            if change["type"] == "end":
                ids.discard(after.get("id"))
            else:
                ids.add(after.get("id"))
            if bool(ids) != was:
                self._put(src_topic + "/person_down", "ON" if ids else "OFF", retain=True)

    def _announced_list(self):
        with self._lock:
            return sorted(self._announced)

    def _announce(self, source):
        with self._lock:
            if source in self._announced:
                return
            self._announced.add(source)
        self._put("%s/%s/person_down" % (self.prefix, source), "OFF", retain=True)
        with self._lock:
            connected = self._connected
        if connected and self.cfg.discovery:
            self._publish_discovery(source)

    def _pump(self):
        """Publish the queue's head when connected and nothing is in flight."""
        if self.queue is None:
            return
        with self._lock:
            if not self._connected:
                return
            inf = self._inflight
        if inf is not None:
            if time.monotonic() - inf[2] < self.cfg.retry_unacked_s:
                return
            log.warning("mqtt: message %d not acknowledged in %.0f s: publishing it again", inf[0],
                        self.cfg.retry_unacked_s)
        head = self.queue.peek(1)
        if not head:
            return
        seq, data = head[0]
        try:
            rec = json.loads(data.decode("utf-8"))
        except ValueError:
            log.error("mqtt: queued message %d is unreadable: dropped", seq)
            self.queue.remove(seq)
            self._wake.set()
            return
        info = self.client.publish(rec["topic"], rec["payload"], qos=rec.get("qos", 1), retain=rec.get("retain", False))
        self.published += 1
        if rec.get("qos", 1) == 0:
            if info.rc == self._mqtt.MQTT_ERR_SUCCESS:
                self.queue.remove(seq)
                self._wake.set()
            return
        with self._lock:
            if info.mid in self._early_acks:
                self._early_acks.discard(info.mid)
                acked = True
            else:
                self._inflight = (seq, info.mid, time.monotonic())
                acked = False
        if acked:
            self.queue.remove(seq)
            self.acked += 1
            self._wake.set()

    def _publish_discovery(self, source):
        cfg = self.cfg
        node = "%s_%s" % (cfg.node_id, "".join(ch if ch.isalnum() or ch in "_-" else "_" for ch in source))
        device = {"identifiers": [node], "name": "edgepose %s" % source, "manufacturer": "edgepose",
                  "model": "pose analytics"}
        avail = self.prefix + "/available"
        base = "%s/%s" % (self.prefix, source)
        sensor = {"name": "Person down", "unique_id": node + "_person_down", "state_topic": base + "/person_down",
                  "payload_on": "ON", "payload_off": "OFF", "device_class": "safety",
                  "availability_topic": avail, "device": device}
        event = {"name": "Alert", "unique_id": node + "_alert", "state_topic": base + "/alert",
                 "event_types": ["fall", "long_lie", "bad_posture"], "availability_topic": avail,
                 "device": device}
        dp = cfg.discovery_prefix
        self.client.publish("%s/binary_sensor/%s/person_down/config" % (dp, node), json.dumps(sensor), qos=1, retain=True)
        self.client.publish("%s/event/%s/alert/config" % (dp, node), json.dumps(event), qos=1, retain=True)

    # -- shutdown ---------------------------------------------------------------------------------
    def close(self, timeout=5.0):
        """Deliver what can be delivered within ``timeout``; the rest stays on disk for next time."""
        deadline = time.monotonic() + timeout
        self._wake.set()
        while time.monotonic() < deadline:
            with self._lock:
                connected, idle = self._connected, self._inflight is None
            if self._inbox.empty() and idle and (not connected or not self._queued()):
                break
            time.sleep(0.02)
        self._stop.set()
        self._wake.set()
        self._thread.join(max(0.1, deadline - time.monotonic()))
        try:
            if self._connected:
                self.client.publish(self.prefix + "/available", "offline", qos=1, retain=True).wait_for_publish(1.0)
        except Exception:
            pass
        self.client.disconnect()
        self.client.loop_stop()
        if self._queued():
            log.warning("mqtt: %d message(s) left on disk in %s; they are sent at the next start",
                        self._queued(), self.queue_dir)
        if self.queue is not None:
            self.queue.close()

    def _queued(self):
        return len(self.queue) if self.queue is not None else 0

    def stats(self):
        return {"connected": self._connected, "queued": self._queued(), "published": self.published,
                "acked": self.acked, "dropped": self.dropped + (self.queue.dropped if self.queue else 0)}
