"""MQTT sink (paho-mqtt 2.x): Frigate-style topics, Home Assistant discovery, nothing lost offline.

Topics and payloads: ``mqtt_topics``. Delivery: ``handle`` only puts the change's JSON in an inbox
(memory, never blocks the loop). One worker thread moves the inbox to an on-disk queue
(``DiskQueue``) in batches, one fsync per batch, and publishes from the queue's head while
connected, up to ``max_inflight`` messages at a time; a message leaves the disk only when the
broker's PUBACK for it has come back. So messages survive a broker outage and a restart, and
arrive in order. QoS 1 is at-least-once: after a crash (or a PUBACK lost with the connection) a
message may arrive twice; consumers de-duplicate by ``after.id`` + ``type`` (as with Frigate).
Without a fault nothing is sent twice.

Faults stay contained: a message the broker library refuses, or a damaged queue record, is set
aside (``rejected/`` in the queue folder, one error line) and the queue goes on; the worker never
dies (an unexpected error is logged and the loop continues); a disk that refuses the write keeps
the batch in memory and retries. At close, whatever was not delivered within the timeout is
spilled to the disk queue and sent at the next start. While the broker is unreachable the sink
says so once, then once a minute with the count of waiting messages.
"""
import logging
import os
import queue
import socket
import threading
import time
from collections import deque

from .. import deps
from ..errors import DependencyError
from ..validation import read_secret
from .base import Sink, change_json
from .diskqueue import DiskQueue, QueueBusy
from .mqtt_topics import Topics, discovery, parse_record

log = logging.getLogger(__name__)

BATCH = 512            # inbox items written per segment (one fsync)
OUTAGE_LOG_EVERY_S = 60.0
SPILL_GRACE_S = 5.0    # extra time at close to put what is left in memory on disk
INBOX_MAX = 100000


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


class _Outage(object):
    """Connection failures, logged once at the start and then once per ``every`` seconds."""

    def __init__(self, where, every=OUTAGE_LOG_EVERY_S, clock=time.monotonic):
        self.where = where
        self.every = every
        self.clock = clock
        self.since = None
        self.attempts = 0
        self._logged = None

    def failed(self, why, waiting):
        now = self.clock()
        self.attempts += 1
        if self.since is None:
            self.since, self._logged = now, now
            log.warning("mqtt %s: cannot connect (%s); %d message(s) wait on disk, retrying", self.where, why, waiting)
        elif now - self._logged >= self.every:
            self._logged = now
            log.warning("mqtt %s: still unreachable after %d attempts in %.0f s (%s); %d message(s) wait on disk",
                        self.where, self.attempts, now - self.since, why, waiting)

    def ended(self):
        if self.since is not None:
            log.info("mqtt %s: connected after %d failed attempt(s), %.0f s without the broker", self.where,
                     self.attempts, self.clock() - self.since)
        self.since, self.attempts = None, 0


class MqttSink(Sink):
    name = "mqtt"

    def __init__(self, config, previous=None):
        """``previous``: the MQTT sink this one replaces (a reload): its person-down state carries over."""
        mqtt = self._mqtt = _import_paho()
        self.cfg = cfg = config
        self.topics = Topics(cfg.topic_prefix, cfg.qos, down=getattr(getattr(previous, "topics", None), "down", None))
        self.prefix = self.topics.prefix
        self.queue_dir = cfg.queue_dir or default_queue_dir()
        try:  # fails fast on a folder that cannot be created; a busy one is retried by the worker
            self.queue = DiskQueue(self.queue_dir, cfg.queue_max_messages)
        except QueueBusy:
            log.info("mqtt: queue %s busy (the previous sink is still closing); waiting for it", self.queue_dir)
            self.queue = None
        self._inbox = queue.Queue(maxsize=INBOX_MAX)
        self._pending = []          # records not on disk yet (the disk refused them): retried
        self._lock = threading.Lock()
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._connected = False
        self._reconnected = False
        self._acks = deque()        # mids from on_publish (network thread), resolved by the worker
        self._inflight = {}         # mid -> (seq, published at); worker thread only
        self._sent_upto = 0         # highest queue seq handed to paho
        self._announced = set(getattr(previous, "_announced", ()))
        self._outage = _Outage("%s:%d" % (cfg.host, cfg.port))
        self._disk_error_at = None
        self.sent = 0               # messages acknowledged by the broker
        self.failed = 0             # messages set aside (can never be sent)
        self.dropped = 0            # changes lost: in-memory inbox full
        client_id = cfg.client_id or "edgepose-%s" % socket.gethostname()
        c = self.client = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id=client_id,
                                      protocol=mqtt.MQTTv311, clean_session=True)
        c.will_set(self.topics.available, "offline", qos=1, retain=True)
        if cfg.username:
            c.username_pw_set(cfg.username, read_secret(cfg.password_env, cfg.password_credential))
        if cfg.tls:
            c.tls_set(ca_certs=cfg.tls_ca, certfile=cfg.tls_cert, keyfile=cfg.tls_key)
            if cfg.tls_insecure:
                c.tls_insecure_set(True)
        c.max_inflight_messages_set(cfg.max_inflight)
        c.reconnect_delay_set(max(1, int(round(cfg.reconnect_min_s))), max(1, int(round(cfg.reconnect_max_s))))
        c.on_connect = self._on_connect
        c.on_connect_fail = self._on_connect_fail
        c.on_disconnect = self._on_disconnect
        c.on_publish = self._on_publish
        c.on_message = self._on_message
        c.connect_async(cfg.host, cfg.port, keepalive=cfg.keepalive_s)
        c.loop_start()
        for s in cfg.sources:
            self._inbox.put(("announce", s))
        self._thread = threading.Thread(target=self._run, name="sink-mqtt", daemon=True)
        self._thread.start()

    # -- the loop side ---------------------------------------------------------------------------
    def handle(self, change, frame=None):
        try:
            self._inbox.put_nowait(("change", change_json(change)))
        except queue.Full:
            self.dropped += 1
            log.error("mqtt sink: %d changes waiting in memory (the disk refuses them?): change %s dropped",
                      INBOX_MAX, change.after.id)
        self._wake.set()

    def announce(self, source):
        """Publish ``source``'s state (and discovery) now, before its first event."""
        self._inbox.put(("announce", source))
        self._wake.set()

    # -- paho callbacks (network thread): no lock the worker holds while calling paho -----------
    def _on_connect(self, client, userdata, flags, reason_code, properties):
        if reason_code.is_failure:
            self._outage.failed("refused: %s" % reason_code, self._queued())
            return
        self._outage.ended()
        log.info("mqtt: connected to %s:%d", self.cfg.host, self.cfg.port)
        client.publish(self.topics.available, "online", qos=1, retain=True)
        if self.cfg.discovery:
            client.subscribe(self.cfg.discovery_prefix + "/status", qos=1)
            for s in self._announced_list():
                self._publish_discovery(s)
        with self._lock:
            self._connected = True
            self._reconnected = True  # paho re-sends what was in flight: their clocks restart
        self._wake.set()

    def _on_connect_fail(self, client, userdata):
        self._outage.failed("connection failed", self._queued())

    def _on_disconnect(self, client, userdata, flags, reason_code, properties):
        with self._lock:
            was, self._connected = self._connected, False
        if self._stop.is_set():
            return
        if was:
            log.warning("mqtt %s:%d: disconnected (%s); messages wait on disk (%d)",
                        self.cfg.host, self.cfg.port, reason_code, self._queued())

    def _on_publish(self, client, userdata, mid, reason_code, properties):
        self._acks.append(mid)
        self._wake.set()

    def _on_message(self, client, userdata, msg):
        if msg.topic == self.cfg.discovery_prefix + "/status" and msg.payload.strip() == b"online":
            log.info("mqtt: Home Assistant is online: discovery re-sent")
            for s in self._announced_list():
                self._publish_discovery(s)

    # -- the worker -------------------------------------------------------------------------------
    def _run(self):
        while True:
            try:
                if self._step():
                    return
            except Exception as e:  # the worker never dies: an alert queued later must still go out
                log.error("mqtt sink: unexpected %s: %s; carrying on", type(e).__name__, e)
                log.debug("traceback", exc_info=True)
                if self._stop.wait(0.5):
                    self._final_spill()
                    return

    def _step(self):
        """One round; True when the worker is done (closing, everything in memory is on disk)."""
        self._wake.wait(0.2)
        self._wake.clear()
        if self.queue is None:  # another sink still holds the folder (a reload): wait for it
            try:
                self.queue = DiskQueue(self.queue_dir, self.cfg.queue_max_messages)
            except QueueBusy:
                if self._stop.is_set() and time.monotonic() > self._stop_deadline:
                    log.error("mqtt: queue %s still busy at close: %d change(s) not kept", self.queue_dir,
                              self._inbox.qsize())
                    return True
                return False
        self._resolve_acks()
        if self._stop.is_set():
            self._final_spill()
            self._wait_inflight()
            return True
        self._to_disk(BATCH)
        self._pump()
        return False

    def _to_disk(self, limit):
        """Inbox -> one segment on disk (at most ``limit`` inbox items); False when the disk refused."""
        items = []
        while len(items) < limit:
            try:
                items.append(self._inbox.get_nowait())
            except queue.Empty:
                break
        for kind, item in items:
            try:
                self._pending.extend(self._records(kind, item))
            except Exception as e:  # a change that cannot be turned into messages: say which, go on
                self.failed += 1
                log.error("mqtt sink: could not turn a %s into messages (%s: %s): skipped", kind, type(e).__name__, e)
        if not self._pending:
            return True
        now = time.monotonic()
        if self._disk_error_at is not None and now - self._disk_error_at < 1.0 and not self._stop.is_set():
            return False
        try:
            self.queue.put_many(self._pending)
        except OSError as e:
            first = self._disk_error_at is None
            self._disk_error_at = now
            if first:
                log.error("mqtt: cannot write the queue in %s (%s); %d message(s) kept in memory, retrying",
                          self.queue_dir, e.strerror or e, len(self._pending))
            return False
        if self._disk_error_at is not None:
            log.info("mqtt: the queue in %s is writable again", self.queue_dir)
            self._disk_error_at = None
        self._pending = []
        self._wake.set()
        return True

    def _final_spill(self):
        """At close: everything still in memory goes to disk (batched), so the next start sends it."""
        while (not self._inbox.empty() or self._pending) and self.queue is not None:
            if not self._to_disk(BATCH * 8):
                log.error("mqtt: %d message(s) and %d change(s) could not be written to %s at close: lost",
                          len(self._pending), self._inbox.qsize(), self.queue_dir)
                return

    def _wait_inflight(self, timeout=1.0):
        deadline = time.monotonic() + timeout
        while self._inflight and time.monotonic() < deadline and self._connected:
            time.sleep(0.02)
            self._resolve_acks()

    def _records(self, kind, item):
        if kind == "announce":
            return self._announce(item)
        source, records = self.topics.for_change(item)
        return self._announce(source) + records

    def _announce(self, source):
        with self._lock:
            if source in self._announced:
                return []
            self._announced.add(source)
            connected = self._connected
        if connected and self.cfg.discovery:
            self._publish_discovery(source)
        return [self.topics.state(source)]

    def _announced_list(self):
        with self._lock:
            return sorted(self._announced)

    def _resolve_acks(self):
        while True:
            try:
                mid = self._acks.popleft()
            except IndexError:
                return
            hit = self._inflight.pop(mid, None)
            if hit is not None:  # else: an online/discovery message, not from the queue
                self.queue.remove(hit[0])
                self.sent += 1

    def _pump(self):
        """Publish from the queue's head while connected, keeping up to ``max_inflight`` in flight."""
        with self._lock:
            if not self._connected:
                return
            reconnected, self._reconnected = self._reconnected, False
        now = time.monotonic()
        if reconnected:
            self._inflight = {mid: (seq, now) for mid, (seq, _) in self._inflight.items()}
        if self._inflight and now - min(t for _, t in self._inflight.values()) > self.cfg.retry_unacked_s:
            log.warning("mqtt: %d message(s) not acknowledged in %.0f s while connected: publishing them again",
                        len(self._inflight), self.cfg.retry_unacked_s)
            self._inflight.clear()
            self._sent_upto = 0
        room = self.cfg.max_inflight - len(self._inflight)
        if room <= 0:
            return
        for seq, data in self.queue.peek(room, after=self._sent_upto):
            try:
                topic, payload, qos, retain = parse_record(data)
            except (ValueError, UnicodeDecodeError) as e:
                self._set_aside(seq, "damaged record: %s" % e)
                continue
            try:
                info = self.client.publish(topic, payload, qos=qos, retain=retain)
            except Exception as e:  # paho refuses it (topic, size): never again, never blocking the rest
                self._set_aside(seq, "%s: %s" % (type(e).__name__, e))
                continue
            if info.rc not in (self._mqtt.MQTT_ERR_SUCCESS, self._mqtt.MQTT_ERR_NO_CONN) or (
                    qos == 0 and info.rc != self._mqtt.MQTT_ERR_SUCCESS):
                return  # not taken (not connected, paho's queue full): the same message next round
            self._sent_upto = seq
            if qos == 0:
                self.queue.remove(seq)
                self.sent += 1
            else:  # paho keeps it and re-sends it after a reconnect until the PUBACK comes
                self._inflight[info.mid] = (seq, now)
        self._resolve_acks()

    def _set_aside(self, seq, why):
        self.queue.set_aside(seq, why)  # counted in queue.rejected
        self._sent_upto = max(self._sent_upto, seq)

    def _publish_discovery(self, source):
        for topic, payload in discovery(self.cfg, self.prefix, source):
            try:
                self.client.publish(topic, payload, qos=1, retain=True)
            except Exception as e:
                log.error("mqtt: discovery for %s not published: %s", source, e)

    # -- shutdown ---------------------------------------------------------------------------------
    def close(self, timeout=5.0):
        """Deliver what can be delivered within ``timeout``; the rest goes to disk for next time."""
        deadline = time.monotonic() + timeout
        self._wake.set()
        while time.monotonic() < deadline:
            with self._lock:
                connected = self._connected
            if self._inbox.empty() and not self._pending and (not connected or (not self._queued() and not self._inflight)):
                break
            time.sleep(0.02)
        self._stop_deadline = time.monotonic() + SPILL_GRACE_S
        self._stop.set()
        self._wake.set()
        self._thread.join(max(0.1, deadline - time.monotonic()) + SPILL_GRACE_S)
        try:
            if self._connected:
                self.client.publish(self.topics.available, "offline", qos=1, retain=True).wait_for_publish(1.0)
        except Exception:
            pass
        self.client.disconnect()
        self.client.loop_stop()
        if self._thread.is_alive():
            log.error("mqtt: the worker did not finish within the close timeout; %d change(s) still in memory",
                      self._inbox.qsize())
            return
        if self._queued():
            log.warning("mqtt: %d message(s) left on disk in %s; they are sent at the next start",
                        self._queued(), self.queue_dir)
        if self.queue is not None:
            self.queue.close()

    _stop_deadline = float("inf")

    def _queued(self):
        q = self.queue
        return len(q) if q is not None else 0

    def stats(self):
        q = self.queue
        return {"connected": self._connected, "queued": self._queued() + self._inbox.qsize(),
                "sent": self.sent, "failed": self.failed + (q.rejected if q is not None else 0),
                "dropped": self.dropped + (q.dropped if q is not None else 0), "inflight": len(self._inflight)}
