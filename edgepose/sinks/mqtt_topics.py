"""What the MQTT sink publishes: topics, payloads and Home Assistant discovery, as plain records.

Topics (PREFIX = ``topic_prefix``, SOURCE = the source name made safe for a topic level):
  PREFIX/available            ``online`` (retained) on connect; ``offline`` as the retained last will
  PREFIX/events               every change ``{"type", "before", "after"}``
  PREFIX/SOURCE/person_down   ``ON`` / ``OFF`` (retained): a fall or long lie is open on SOURCE
  PREFIX/SOURCE/last_event    the latest change's ``after`` (retained)
  PREFIX/SOURCE/alert         ``{"event_type": label, ...}`` on each new alert (HA event entity)
Home Assistant discovery (retained): DISCOVERY/binary_sensor/NODE_SOURCE/person_down/config and
DISCOVERY/event/NODE_SOURCE/alert/config.

A source name comes from the config (letters, digits, ``_.-``) or from a recording replayed from
anywhere: ``topic_level`` maps every other character (``+`` and ``#`` are MQTT wildcards, ``/``
a level separator, NUL forbidden) to ``_``, so no name can make a publish fail or land elsewhere.
The payloads keep the real name.
"""
import json
import re

DOWN_LABELS = ("fall", "long_lie", "person_down")
EVENT_TYPES = ["fall", "long_lie", "bad_posture"]
_UNSAFE = re.compile(r"[^A-Za-z0-9_.-]")
MAX_LEVEL = 64


def topic_level(name):
    """``name`` as one safe topic level: [A-Za-z0-9_.-] only, at most 64 characters, never empty."""
    text = _UNSAFE.sub("_", str(name))[:MAX_LEVEL]
    return text if text.strip("_") else "default"


def _dumps(obj):
    return json.dumps(obj, separators=(",", ":"), allow_nan=False, default=str)


def record(topic, payload, retain=False, qos=1):
    """The queue record of one publish (JSON bytes)."""
    return _dumps({"topic": topic, "payload": payload, "retain": bool(retain), "qos": int(qos)}).encode("utf-8")


def parse_record(data):
    """(topic, payload, qos, retain) of a queue record; ValueError when it is not a valid one."""
    rec = json.loads(data.decode("utf-8"))
    if not isinstance(rec, dict):
        raise ValueError("not a JSON object")
    topic, payload = rec.get("topic"), rec.get("payload")
    if not isinstance(topic, str) or not topic or any(c in topic for c in "+#\x00"):
        raise ValueError("bad topic %r" % (topic,))
    if not isinstance(payload, str):
        raise ValueError("payload is not text")
    qos = rec.get("qos", 1)
    if qos not in (0, 1, 2):
        raise ValueError("bad qos %r" % (qos,))
    return topic, payload, qos, bool(rec.get("retain", False))


class Topics(object):
    """The records for changes and sources; keeps which sources have a person down."""

    def __init__(self, prefix, qos=1, down=None):
        self.prefix = prefix.rstrip("/")
        self.qos = qos
        self.down = {k: set(v) for k, v in (down or {}).items()}  # source -> open fall/long_lie ids

    @property
    def available(self):
        return self.prefix + "/available"

    def source_base(self, source):
        return "%s/%s" % (self.prefix, topic_level(source))

    def state(self, source):
        """The retained person_down record of ``source`` as it is now."""
        on = bool(self.down.get(source))
        return record(self.source_base(source) + "/person_down", "ON" if on else "OFF", retain=True)

    def for_change(self, text):
        """The records of one change (its public JSON text), in publish order."""
        change = json.loads(text)
        after = change["after"]
        kind = change["type"]
        source = str(after.get("source") or "default")
        base = self.source_base(source)
        out = [record(self.prefix + "/events", text, qos=self.qos),
               record(base + "/last_event", _dumps(after), retain=True, qos=self.qos)]
        if kind == "new":
            out.append(record(base + "/alert", _dumps(dict(after, event_type=after.get("label"))), qos=self.qos))
        if after.get("label") in DOWN_LABELS:
            ids = self.down.setdefault(source, set())
            was = bool(ids)
            if kind == "end":
                ids.discard(after.get("id"))
            else:
                ids.add(after.get("id"))
            if bool(ids) != was:
                out.append(self.state(source))
        return source, out


def discovery(cfg, prefix, source):
    """[(topic, payload)] of the Home Assistant discovery configs of ``source`` (retained)."""
    node = "%s_%s" % (cfg.node_id, topic_level(source).replace(".", "_"))
    device = {"identifiers": [node], "name": "edgepose %s" % source, "manufacturer": "edgepose",
              "model": "pose analytics"}
    avail = prefix + "/available"
    base = "%s/%s" % (prefix, topic_level(source))
    sensor = {"name": "Person down", "unique_id": node + "_person_down", "state_topic": base + "/person_down",
              "payload_on": "ON", "payload_off": "OFF", "device_class": "safety",
              "availability_topic": avail, "device": device}
    event = {"name": "Alert", "unique_id": node + "_alert", "state_topic": base + "/alert",
             "event_types": EVENT_TYPES, "availability_topic": avail, "device": device}
    dp = cfg.discovery_prefix
    return [("%s/binary_sensor/%s/person_down/config" % (dp, node), json.dumps(sensor)),
            ("%s/event/%s/alert/config" % (dp, node), json.dumps(event))]
