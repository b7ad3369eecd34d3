"""The runtime config of ``edgepose serve``: one YAML file, validated strictly.

Top-level sections: ``sources`` (one or more cameras, each with its own zones), ``model`` (ONNX
model or TensorRT engine + profile), ``decode`` (overrides of the profile's decode thresholds),
``analytics`` (``edgepose.analytics.config.AnalyticsConfig``), ``sinks``
(``edgepose.sinks.config.SinksConfig``), ``http``, ``logging`` and ``service``. Unknown keys are
errors; every bad key is reported with its path, its value and what is expected.

``load_config(path, overrides=None)`` reads, merges command-line overrides and validates.
``example_yaml()`` renders the commented full example from the schema itself (field descriptions
become comments), so it can never drift from what is accepted; ``systemd/config.example.yaml`` is
that text.
"""
import copy
import os
import re
import textwrap
from typing import Dict, List, Literal, Optional, Tuple, Union

import yaml
from pydantic import BaseModel, Field, create_model, field_validator, model_validator

from .analytics.config import AnalyticsConfig, ZoneConfig
from .errors import ConfigError
from .profiles import DecodeParams
from .sinks.config import SinksConfig
from .validation import Strict, load_yaml, validate


NAME_RE = r"^[A-Za-z0-9][A-Za-z0-9_.-]*$"


class SourceConfig(Strict):
    """One camera, stream, video file or image folder."""

    name: str = Field(..., max_length=64,
                      description="short unique name: used in events, metrics labels and ?source= URLs")
    uri: str = Field(..., min_length=1, description="csi://0, /dev/video0, rtsp://..., a video file or an "
                     "image folder")
    options: Dict[str, Union[bool, int, float, str]] = Field(
        default_factory=dict, validate_default=True, description="source options: width, height, fps (cameras); latency, codec "
        "(streams); loop, realtime (files); retry_delay, max_retry_delay, wait_first (live sources)")
    zones: List[ZoneConfig] = Field(default_factory=list, description="zones of this camera's image (in its "
                                    "pixels), added to analytics.zones")

    @field_validator("name")
    @classmethod
    def _plain_name(cls, v):
        if not re.match(NAME_RE, v):
            raise ValueError("use letters, digits, '_', '.' and '-' only (no spaces), starting with a letter or digit")
        return v

    @field_validator("options")
    @classmethod
    def _known_options(cls, v, info):
        from .sources import options as table

        uri = info.data.get("uri")
        if uri is None:
            return v
        base, query = table.split_query(uri)
        merged = dict(query)
        merged.update({k: table.convert(x) for k, x in v.items()})
        problems = table.option_problems(table.kind_from_uri(base), merged)
        if problems:
            raise ValueError("; ".join(problems))
        return v

    @model_validator(mode="after")
    def _unique_zones(self):
        names = [z.name for z in self.zones]
        if len(set(names)) != len(names):
            raise ValueError("zone names must be unique within a source")
        return self


class ModelConfig(Strict):
    """The network: an ONNX model (ONNX Runtime) or a TensorRT engine built on this device."""

    model: Optional[str] = Field(None, description=".onnx model for ONNX Runtime (default: the bundled demo "
                                 "model when no engine is given)")
    engine: Optional[str] = Field(None, description="TensorRT engine (.engine/.plan), built with `edgepose "
                                  "build` on this device; needs profile")
    profile: Optional[str] = Field(None, description="model profile: built-in name (tao-bpnet, tf-pose, "
                                   "edgepose-demo) or a YAML path; guessed from an ONNX model when empty")
    size: Optional[Tuple[int, int]] = Field(None, description="network input [H, W] instead of the "
                                            "profile's (ONNX models with dynamic H, W)")
    threads: Optional[int] = Field(None, ge=1, le=64, description="ONNX Runtime intra-op threads")

    @model_validator(mode="after")
    def _one_network(self):
        if self.model and self.engine:
            raise ValueError("give model or engine, not both")
        if self.engine and not self.profile:
            raise ValueError("engine needs profile (the profile of the ONNX model it was built from)")
        if self.size is not None and (self.size[0] <= 0 or self.size[1] <= 0):
            raise ValueError("size: H and W must be positive")
        return self


def _decode_overrides_model():
    """Every ``DecodeParams`` field, optional: a key set here overrides the profile's default."""
    fields = {}
    for name, f in DecodeParams.model_fields.items():
        fields[name] = (Optional[f.annotation], Field(None, description=f.description))
    model = create_model("DecodeOverrides", __base__=Strict, **fields)
    model.__doc__ = "Decode thresholds; empty keys keep the profile's defaults (`edgepose profile show NAME`)."
    return model


DecodeOverrides = _decode_overrides_model()


class HttpConfig(Strict):
    """Health, metrics, snapshots, MJPEG preview and events over HTTP."""

    enabled: bool = True
    host: str = Field("127.0.0.1", min_length=1, description="listen address; any non-loopback address "
                      "needs a token (env EDGEPOSE_HTTP_TOKEN or the systemd credential http_token)")
    port: int = Field(8080, ge=0, le=65535, description="TCP port (0: any free port)")
    token_file: Optional[str] = Field(None, description="file holding the token, when neither the env "
                                      "variable nor the credential is used")
    stale_after_s: float = Field(5.0, gt=0, le=3600, description="/healthz turns 503 when a source has "
                                 "delivered no frame for this long")
    jpeg_quality: int = Field(80, ge=10, le=100, description="JPEG quality of snapshots and the MJPEG stream")
    max_events: int = Field(1000, ge=1, le=100000, description="events kept for /events")
    max_connections: int = Field(32, ge=2, le=1024, description="connections served at once; at the cap the "
                                 "one idle the longest is closed, or a 503 when all are busy")
    max_stream_clients: int = Field(4, ge=0, le=64, description="MJPEG /stream.mjpg clients at once (503 "
                                    "above)")
    request_timeout_s: float = Field(10.0, gt=0, le=300, description="a request's line and headers must "
                                     "arrive within this; also bounds every later read and write")
    max_header_bytes: int = Field(16384, ge=1024, le=1048576, description="request line + headers larger "
                                  "than this get a 431, before the token is checked")


class LoggingConfig(Strict):
    """Logs go to stderr (the journal under systemd)."""

    level: Literal["debug", "info", "warning", "error"] = "info"
    format: Literal["auto", "journal", "plain"] = Field(
        "auto", description="journal: <N> priority prefixes, no timestamps; auto: journal under systemd")
    repeat_burst: int = Field(5, ge=0, le=1000, description="identical warnings/errors let through per "
                              "period (0: no limit)")
    repeat_period_s: float = Field(60.0, gt=0, le=86400)
    stats_interval_s: float = Field(60.0, ge=0, le=86400, description="seconds between stats log lines "
                                    "(0: never)")


class ServiceConfig(Strict):
    """Process life: status, batching, shutdown."""

    status_interval_s: float = Field(2.0, gt=0, le=3600, description="how often STATUS= (fps, people) is "
                                     "sent to systemd")
    batch: bool = Field(True, description="batch frames of several sources into one inference when the "
                        "engine has a dynamic batch")
    max_batch: int = Field(8, ge=1, le=64)
    stop_timeout_s: float = Field(5.0, gt=0, le=60, description="drain and flush within this on SIGTERM")
    restart_delay_s: float = Field(5.0, gt=0, le=3600, description="first wait before a failed source's "
                                   "pipeline is restarted (doubles up to 60 s)")


class Config(Strict):
    """The whole runtime config."""

    sources: List[SourceConfig] = Field(..., min_length=1, description="(required) the cameras; one "
                                        "process shares one engine between them")
    model: ModelConfig = Field(default_factory=ModelConfig)
    decode: DecodeOverrides = Field(default_factory=DecodeOverrides)
    analytics: AnalyticsConfig = Field(default_factory=AnalyticsConfig, description="tracking, posture, "
                                       "falls, bad posture, zones, events (seconds, degrees, body heights)")
    sinks: SinksConfig = Field(default_factory=SinksConfig, description="where events go")
    http: HttpConfig = Field(default_factory=HttpConfig)
    logging: LoggingConfig = Field(default_factory=LoggingConfig)
    service: ServiceConfig = Field(default_factory=ServiceConfig)

    @model_validator(mode="after")
    def _cross_checks(self):
        names = [s.name for s in self.sources]
        dup = sorted(set(n for n in names if names.count(n) > 1))
        if dup:
            raise ValueError("sources: names must be unique (repeated: %s)" % ", ".join(dup))
        for z in self.analytics.zones:
            unknown = [s for s in (z.sources or []) if s not in names]
            if unknown:
                raise ValueError("analytics.zones %s: unknown source(s) %s (sources: %s)"
                                 % (z.name, ", ".join(unknown), ", ".join(names)))
        return self

    # -- views used by the service ---------------------------------------------------------------
    def decode_overrides(self):
        """{param: value} of the decode thresholds set in the file."""
        return {k: v for k, v in self.decode.model_dump().items() if v is not None}

    def analytics_for(self, source_name):
        """The ``AnalyticsConfig`` of one source: global zones that apply to it plus its own zones."""
        src = next(s for s in self.sources if s.name == source_name)
        zones = [z for z in self.analytics.zones if not z.sources or source_name in z.sources]
        zones += list(src.zones)
        return self.analytics.model_copy(update={"zones": zones})

    def source(self, name):
        return next((s for s in self.sources if s.name == name), None)


def _merge(base, overrides):
    out = copy.deepcopy(base)
    for key, value in (overrides or {}).items():
        if isinstance(value, dict) and isinstance(out.get(key), dict):
            out[key] = _merge(out[key], value)
        else:
            out[key] = value
    return out


def load_config(path=None, overrides=None):
    """Read ``path`` (optional), merge ``overrides`` (nested dict, e.g. from CLI flags), validate.

    Raises ``ConfigError`` listing every bad key as ``FILE: key.path: value V: expected ...``.
    """
    data = load_yaml(path) if path else {}
    data = _merge(data, overrides)
    where = os.fspath(path) if path else "command line"
    if overrides and path:
        where = "%s (+ command-line flags)" % where
    if "sources" not in data:
        raise ConfigError("%s: sources: missing: give at least one source (or `edgepose serve --source URI`)"
                          % where)
    return validate(Config, data, where)


def check_config_file(path):
    """``("service", Config)`` for a service config, or ``("analytics", ReplayConfig)`` for a file with
    only ``analytics:``/``sinks:`` sections (what ``run --config`` and ``replay --config`` take).
    Raises ``ConfigError`` listing every bad key, like ``load_config``."""
    data = load_yaml(path)
    if "sources" not in data and data and set(data) <= {"analytics", "sinks"}:
        from .replay import ReplayConfig

        return "analytics", validate(ReplayConfig, data, os.fspath(path))
    return "service", load_config(path)


def parse_config_text(text, where="<config>"):
    """Validate a config given as YAML text (tests, `config example` round-trip)."""
    try:
        data = yaml.safe_load(text) or {}
    except yaml.YAMLError as e:
        raise ConfigError("%s: not valid YAML (%s)" % (where, e))
    return validate(Config, data, where)


# -- the commented example, generated from the schema ------------------------------------------
EXAMPLE_HEADER = """\
# edgepose runtime config (`edgepose serve --config FILE`).
# Generated by `edgepose config example`; check a changed file with `edgepose config check FILE`.
# Every key is optional unless marked required; unknown keys are errors.
# Apply changes with `systemctl reload edgepose` (SIGHUP): thresholds, zones and sinks change without
# reloading the engine; an invalid file is refused and the running config kept.
# Secrets are never written here: the HTTP token comes from $EDGEPOSE_HTTP_TOKEN or the systemd
# credential http_token, the MQTT password from the credential mqtt_password (see systemd/README.md).
"""

_EXAMPLE_SOURCES = [
    {"name": "livingroom", "uri": "/dev/video0", "options": {"width": 1280, "height": 720, "fps": 15},
     "zones": [{"name": "sofa", "role": "exclude",
                "polygon": [[40, 420], [520, 420], [520, 700], [40, 700]]}]},
]

_EXAMPLE_EXTRA_COMMENTS = {
    "sources": ["More cameras share the same engine, e.g.:",
                "  - name: hall",
                "    uri: rtsp://user@192.168.1.20:554/stream1",
                "    options: {latency: 200}",
                "  - name: office",
                "    uri: csi://0"],
}


def _scalar(value):
    text = yaml.safe_dump([value], default_flow_style=True, width=10000, sort_keys=False).strip()
    return text[1:-1]


def _comment_lines(text, indent):
    lines = []
    for para in (text or "").strip().splitlines():
        for line in textwrap.wrap(para.strip(), width=max(40, 100 - indent - 2)) or [""]:
            lines.append(("%s# %s" % (" " * indent, line)).rstrip())
    return lines


def _emit_model(obj, indent, out):
    pad = " " * indent
    for name, field in type(obj).model_fields.items():
        value = getattr(obj, name)
        desc = field.description
        if not desc and isinstance(value, BaseModel) and type(value).__doc__:
            desc = type(value).__doc__.strip().splitlines()[0]
        if desc:
            out.extend(_comment_lines(desc, indent))
        for extra in _EXAMPLE_EXTRA_COMMENTS.get(name, []) if indent == 0 else []:
            out.append("# " + extra)
        if isinstance(value, BaseModel):
            if type(value).model_fields:
                out.append("%s%s:" % (pad, name))
                _emit_model(value, indent + 2, out)
            else:
                out.append("%s%s: {}" % (pad, name))
        elif isinstance(value, list) and value and isinstance(value[0], BaseModel):
            out.append("%s%s:" % (pad, name))
            for item in value:
                sub = []
                _emit_model(item, indent + 4, sub)
                # turn the first key line of the item into a "- " list entry
                for i, line in enumerate(sub):
                    if not line.lstrip().startswith("#"):
                        sub[i] = "%s  - %s" % (pad, line.lstrip())
                        break
                out.extend(sub)
        else:
            if isinstance(value, tuple):
                value = list(value)
            if isinstance(value, list):
                value = [list(v) if isinstance(v, tuple) else v for v in value]
            out.append("%s%s: %s" % (pad, name, _scalar(value)))
    return out


def example_config():
    """The ``Config`` the example shows: defaults plus one camera with a zone."""
    return validate(Config, {"sources": _EXAMPLE_SOURCES}, "example")


def example_yaml():
    """The commented full example (the text of ``systemd/config.example.yaml``)."""
    lines = _emit_model(example_config(), 0, [])
    return EXAMPLE_HEADER + "\n" + "\n".join(_blank_before_sections(lines)) + "\n"


def _blank_before_sections(lines):
    """A blank line before each top-level key (and the comment block above it)."""
    out = []
    for i, line in enumerate(lines):
        top_key = re.match(r"^[a-z_]+:", line)
        top_comment = line.startswith("# ") and (i == 0 or not lines[i - 1].startswith("# "))
        if (top_key or top_comment) and out and out[-1] != "" and not out[-1].startswith("# "):
            out.append("")
        out.append(line)
    return out
