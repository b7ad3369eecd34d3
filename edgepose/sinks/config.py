"""The ``sinks:`` section of the config: log, jsonl, mqtt, webhook, snapshots.

Secrets never live in the YAML: the MQTT password and the webhook token come from an environment
variable or from a file in ``$CREDENTIALS_DIRECTORY`` (systemd ``LoadCredential=``); the config
only names them (``password_env``, ``password_credential``). Validation has no side effects: the
secrets are read when the sink is built (``edgepose.validation.read_secret``).
"""
from typing import Dict, List, Literal, Optional

from pydantic import Field, model_validator

from ..validation import Strict

LABELS_HELP = "only these labels (fall, long_lie, bad_posture); empty = all"


class LogSinkConfig(Strict):
    """One log line per event change."""

    enabled: bool = True
    level: Literal["debug", "info", "warning", "error"] = Field("warning", description="log level of "
                                                                  "'new' changes (updates and ends log at info)")


class JsonlSinkConfig(Strict):
    """The event feed appended to a JSON-lines file, one change per line."""

    enabled: bool = False
    path: str = Field("events.jsonl", min_length=1, description="file to append to (its folder must exist)")
    fsync: bool = Field(False, description="fsync after each line (slower, survives power loss)")
    max_queue: int = Field(10000, ge=1, le=10000000, description="changes held in memory while the disk is slow")


class MqttSinkConfig(Strict):
    """MQTT (paho-mqtt 2.x), Frigate-style topics and Home Assistant discovery.

    Topics: PREFIX/available (online/offline, retained, last will), PREFIX/events (every change,
    QoS 1), PREFIX/SOURCE/person_down (ON/OFF, retained), PREFIX/SOURCE/last_event (retained JSON),
    PREFIX/SOURCE/alert (HA event entity payloads). Every message goes through an on-disk queue and
    leaves it only after the broker's PUBACK, so nothing is lost while the broker is down.
    """

    enabled: bool = False
    host: str = Field("127.0.0.1", min_length=1)
    port: int = Field(1883, ge=1, le=65535)
    client_id: Optional[str] = Field(None, description="default: edgepose-<hostname>")
    topic_prefix: str = Field("edgepose", min_length=1, pattern=r"^[^#+\x00]+$", description="no + or # "
                              "(MQTT wildcards)")
    username: Optional[str] = None
    password_env: str = Field("EDGEPOSE_MQTT_PASSWORD", description="environment variable with the password")
    password_credential: str = Field("mqtt_password", description="file name in $CREDENTIALS_DIRECTORY")
    tls: bool = Field(False, description="connect with TLS")
    tls_ca: Optional[str] = Field(None, description="CA bundle (default: the system's)")
    tls_cert: Optional[str] = Field(None, description="client certificate (mutual TLS)")
    tls_key: Optional[str] = Field(None, description="client key (mutual TLS)")
    tls_insecure: bool = Field(False, description="do not check the broker's host name (testing only)")
    keepalive_s: int = Field(30, ge=5, le=3600)
    qos: int = Field(1, ge=0, le=2, description="QoS of event messages")
    reconnect_min_s: float = Field(1.0, gt=0, le=600)
    reconnect_max_s: float = Field(60.0, gt=0, le=3600)
    queue_dir: Optional[str] = Field(None, description="on-disk queue folder (default: "
                                     "$STATE_DIRECTORY/mqtt-queue or ~/.cache/edgepose/mqtt-queue)")
    queue_max_messages: int = Field(10000, ge=10, le=10000000, description="oldest dropped beyond this")
    max_inflight: int = Field(20, ge=1, le=1000, description="messages published and not yet acknowledged "
                              "at a time")
    retry_unacked_s: float = Field(30.0, gt=0, le=3600, description="republish a message not acknowledged "
                                   "this long while connected")
    discovery: bool = Field(True, description="publish Home Assistant discovery configs")
    discovery_prefix: str = Field("homeassistant", min_length=1, pattern=r"^[^#+\x00]+$")
    node_id: str = Field("edgepose", min_length=1, pattern=r"^[A-Za-z0-9_-]+$")
    sources: List[str] = Field(default_factory=list, description="sources announced at start (others are "
                               "announced when they first send an event)")

    @model_validator(mode="after")
    def _checks(self):
        if self.reconnect_max_s < self.reconnect_min_s:
            raise ValueError("reconnect_max_s must be at least reconnect_min_s")
        if (self.tls_cert is None) != (self.tls_key is None):
            raise ValueError("tls_cert and tls_key go together")
        return self


class WebhookSinkConfig(Strict):
    """HTTP POST of each change as JSON, retried with exponential backoff."""

    enabled: bool = False
    url: str = Field("", description="http:// or https:// URL")
    token_env: str = Field("EDGEPOSE_WEBHOOK_TOKEN", description="environment variable with a bearer token")
    token_credential: str = Field("webhook_token", description="file name in $CREDENTIALS_DIRECTORY")
    headers: Dict[str, str] = Field(default_factory=dict, description="extra request headers (no secrets)")
    timeout_s: float = Field(5.0, gt=0, le=300)
    max_attempts: int = Field(10, ge=0, le=1000000, description="attempts per change (0 = until it works)")
    backoff_initial_s: float = Field(1.0, gt=0, le=3600)
    backoff_max_s: float = Field(60.0, gt=0, le=86400)
    max_queue: int = Field(1000, ge=1, le=1000000, description="oldest dropped beyond this")
    labels: List[str] = Field(default_factory=list, description=LABELS_HELP)

    @model_validator(mode="after")
    def _checks(self):
        if self.enabled and not (self.url.startswith("http://") or self.url.startswith("https://")):
            raise ValueError("url: an http:// or https:// URL is needed when the webhook is enabled")
        return self


class SnapshotSinkConfig(Strict):
    """A JPEG of the frame with the skeleton drawn, written before the 'new' change goes out."""

    enabled: bool = False
    dir: str = Field("snapshots", min_length=1, description="folder (created if missing)")
    jpeg_quality: int = Field(85, ge=10, le=100)
    max_width: int = Field(1280, ge=64, le=8192, description="larger frames are scaled down")
    keep_max: int = Field(1000, ge=1, le=10000000, description="oldest snapshots deleted beyond this count")
    draw: bool = Field(True, description="draw the skeleton and box")


class SinksConfig(Strict):
    log: LogSinkConfig = Field(default_factory=LogSinkConfig)
    jsonl: JsonlSinkConfig = Field(default_factory=JsonlSinkConfig)
    mqtt: MqttSinkConfig = Field(default_factory=MqttSinkConfig)
    webhook: WebhookSinkConfig = Field(default_factory=WebhookSinkConfig)
    snapshots: SnapshotSinkConfig = Field(default_factory=SnapshotSinkConfig)

