"""The daemon's Prometheus metrics: the families of a running ``Service`` and their text format."""
import math
from typing import Dict, NamedTuple, Sequence, Tuple


class Metric(NamedTuple):
    """One Prometheus metric family: ``samples`` = [(labels dict, value)]."""

    name: str
    kind: str  # "gauge" | "counter"
    help: str
    samples: Sequence[Tuple[Dict[str, str], float]]


def _escape_label(value):
    return str(value).replace("\\", "\\\\").replace("\n", "\\n").replace('"', '\\"')


def _format_value(v):
    v = float(v)
    if math.isnan(v):
        return "NaN"
    if math.isinf(v):
        return "+Inf" if v > 0 else "-Inf"
    return repr(v) if v != int(v) or abs(v) >= 1e15 else str(int(v))


def render_prometheus(metrics):
    """Prometheus text exposition format 0.0.4 for a list of ``Metric``."""
    lines = []
    for m in metrics:
        lines.append("# HELP %s %s" % (m.name, m.help.replace("\\", "\\\\").replace("\n", " ")))
        lines.append("# TYPE %s %s" % (m.name, m.kind))
        for labels, value in m.samples:
            if labels:
                lab = ",".join('%s="%s"' % (k, _escape_label(v)) for k, v in sorted(labels.items()))
                lines.append("%s{%s} %s" % (m.name, lab, _format_value(value)))
            else:
                lines.append("%s %s" % (m.name, _format_value(value)))
    return "\n".join(lines) + "\n"


_SINK_COUNTERS = (("sent", "messages or changes a sink delivered"),
                  ("failed", "messages or changes a sink could not deliver (refused, rejected, gave up)"),
                  ("dropped", "messages or changes a sink lost (queue full, undelivered at close)"))


def build_metrics(service):
    """The Prometheus families of a running ``Service``."""
    fam = {}

    def add(name, kind, help_, labels, value):
        if name not in fam:
            fam[name] = Metric(name, kind, help_, [])
        fam[name].samples.append((labels, value))

    add("edgepose_up", "gauge", "1 while the service runs", {}, 1)
    add("edgepose_ready", "gauge", "1 once the model is loaded and the first frame processed", {},
        1 if service.ready else 0)
    for name, r in list(service.runners.items()):
        lab = {"source": name}
        st = r.stats
        add("edgepose_frames_total", "counter", "frames processed", lab, r.frames)
        add("edgepose_fps", "gauge", "frames per second (rolling window)", lab, st.fps if st else 0.0)
        add("edgepose_people", "gauge", "people in the latest frame", lab, r.people)
        dropped = (st.dropped + st.source_dropped) if st else 0
        add("edgepose_dropped_frames_total", "counter", "frames skipped so the newest frame wins", lab, dropped)
        src = r.source
        add("edgepose_source_reconnects_total", "counter", "camera/stream reconnects and pipeline restarts",
            lab, getattr(src, "reconnects", 0) + r.restarts)
        add("edgepose_source_up", "gauge", "1 while the source's pipeline runs", lab, 1 if st is not None else 0)
        if st is not None:
            for stage in st.stages():
                med, p90 = st.latency(stage)
                for q, v in (("0.5", med), ("0.9", p90)):
                    add("edgepose_stage_latency_seconds", "gauge", "per-stage latency (total: end to end)",
                        {"source": name, "stage": stage, "quantile": q}, v)
        for (label, kind), n in sorted(r.events.items()):
            add("edgepose_events_total", "counter", "event changes by label and type",
                {"source": name, "label": label, "type": kind}, n)
    if "edgepose_events_total" not in fam:
        fam["edgepose_events_total"] = Metric("edgepose_events_total", "counter",
                                              "event changes by label and type", [])
    if service.sinks is not None:
        for sink, st in service.sinks.stats():
            lab = {"sink": sink}
            if st.get("queued") is not None:
                add("edgepose_sink_queue_depth", "gauge", "events waiting in a sink's queue", lab, st["queued"])
            if st.get("connected") is not None:
                add("edgepose_sink_connected", "gauge", "1 while the sink reaches its broker/endpoint", lab,
                    1 if st["connected"] else 0)
            for key, help_ in _SINK_COUNTERS:
                if st.get(key) is not None:
                    add("edgepose_sink_%s_total" % key, "counter", help_, lab, st[key])
        add("edgepose_sink_errors_total", "counter", "exceptions raised by sinks", {}, service.sinks.errors)
    http = service.http
    hs = http.stats() if http is not None else {}
    if hs:
        add("edgepose_http_connections", "gauge", "HTTP connections open now", {}, hs["connections"])
        add("edgepose_http_streams", "gauge", "MJPEG stream clients now", {}, hs["streams"])
        for reason in ("refused_busy", "evicted_idle", "timed_out", "headers_too_large"):
            add("edgepose_http_rejected_total", "counter", "HTTP connections refused or closed before a request "
                "was served, by reason", {"reason": reason}, hs[reason])
    be = service.backend
    if be is not None:
        add("edgepose_inference_calls_total", "counter", "inference calls of the shared engine", {}, be.calls)
        add("edgepose_inference_batch_mean", "gauge", "mean frames per inference call", {}, be.mean_batch)
    for result, n in sorted(service.reloads.items()):
        add("edgepose_reloads_total", "counter", "SIGHUP reloads by result", {"result": result}, n)
    from ..stats import rss_bytes

    add("edgepose_rss_bytes", "gauge", "resident memory of the process", {}, rss_bytes())
    return list(fam.values())
