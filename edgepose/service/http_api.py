"""The daemon's HTTP endpoints (standard library only): health, metrics, snapshots, MJPEG, events.

- ``/healthz``: 200 and a JSON status while every source delivers frames, 503 otherwise.
- ``/metrics``: Prometheus text format (the service supplies the metric families).
- ``/snapshot.jpg?source=NAME``: the latest frame of a source with the skeletons drawn.
- ``/stream.mjpg?source=NAME[&fps=N]``: ``multipart/x-mixed-replace`` MJPEG a browser can open.
- ``/events?since=UNIX_SECONDS[&limit=N]``: recent event changes as JSON.

Binds 127.0.0.1 by default. Binding any other address needs a token (``EDGEPOSE_HTTP_TOKEN`` or the
systemd credential ``$CREDENTIALS_DIRECTORY/http_token``); the server refuses to start without
one. With a token every request needs ``Authorization: Bearer TOKEN`` (or HTTP Basic with the token
as password, so a browser can open the MJPEG preview), compared in constant time.

``LiveState`` is the thread-safe hand-over between the processing loop (``publish``,
``add_events``) and the HTTP threads; JPEG encoding and drawing happen on request, not per frame.
"""
import base64
import collections
import hmac
import ipaddress
import json
import logging
import math
import os
import socket
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Dict, NamedTuple, Sequence, Tuple
from urllib.parse import parse_qs, urlsplit

from ..errors import ConfigError

log = logging.getLogger(__name__)

TOKEN_ENV = "EDGEPOSE_HTTP_TOKEN"
TOKEN_CREDENTIAL = "http_token"
BOUNDARY = "edgeposeframe"


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


def _plain(o):
    """JSON-able copy: numpy values to Python, NaN/Inf to null (strict JSON for browsers)."""
    if isinstance(o, dict):
        return {str(k): _plain(v) for k, v in o.items()}
    if isinstance(o, (list, tuple, set)):
        return [_plain(v) for v in o]
    if hasattr(o, "tolist"):  # numpy scalars and arrays
        return _plain(o.tolist())
    if isinstance(o, float) and (math.isnan(o) or math.isinf(o)):
        return None
    if o is None or isinstance(o, (str, int, float, bool)):
        return o
    return str(o)


def to_json(obj):
    return json.dumps(_plain(obj), allow_nan=False)


class _SourceSlot:
    __slots__ = ("image", "people", "t", "received", "seq", "jpeg", "jpeg_seq", "frames")

    def __init__(self):
        self.image = None
        self.people = ()
        self.t = None
        self.received = None
        self.seq = 0
        self.jpeg = None
        self.jpeg_seq = -1
        self.frames = 0


class LiveState:
    """Latest frame per source, recent events, and the health rule; shared by loop and HTTP threads.

    ``stale_after``: seconds without a frame after which a source counts as stalled.
    ``annotate(image, people) -> image``: draws the overlay on a copy (called on request only).
    ``metrics``: callable returning a list of ``Metric`` for ``/metrics``.
    """

    def __init__(self, sources=(), stale_after=5.0, max_events=1000, annotate=None,
                 metrics=None, jpeg_quality=80, clock=time.time):
        self.stale_after = float(stale_after)
        self.annotate = annotate
        self.metrics = metrics or (lambda: [])
        self.jpeg_quality = int(jpeg_quality)
        self.clock = clock  # wall clock: event times for /events?since=
        self.started = time.monotonic()  # frame ages and uptime: immune to clock jumps (NTP at boot)
        self.status = "starting"
        self._slots = collections.OrderedDict((name, _SourceSlot()) for name in sources)
        self._events = collections.deque(maxlen=int(max_events))
        self._event_seq = 0
        self._cond = threading.Condition()
        self.closed = threading.Event()

    # -- loop side ------------------------------------------------------------------------------
    def set_sources(self, names):
        with self._cond:
            old = self._slots
            self._slots = collections.OrderedDict((n, old.get(n) or _SourceSlot()) for n in names)

    def publish(self, source, image, people=(), t=None):
        """The newest processed frame of ``source`` (the array is kept by reference, not copied)."""
        with self._cond:
            slot = self._slots.get(source)
            if slot is None:
                slot = self._slots[source] = _SourceSlot()
            slot.image = image
            slot.people = list(people)
            slot.t = t
            slot.received = time.monotonic()
            slot.seq += 1
            slot.frames += 1
            self._cond.notify_all()

    def add_events(self, changes):
        """Record event changes (``{"type", "before", "after"}`` dicts) for ``/events``."""
        if not changes:
            return
        now = self.clock()
        with self._cond:
            for ch in changes:
                self._event_seq += 1
                self._events.append({"seq": self._event_seq, "received": now, "change": ch})

    def close(self):
        self.closed.set()
        with self._cond:
            self._cond.notify_all()

    # -- HTTP side ------------------------------------------------------------------------------
    def sources(self):
        with self._cond:
            return list(self._slots)

    def health(self):
        """(ok, JSON-able dict): ok when every source has a frame younger than ``stale_after``."""
        now = time.monotonic()
        per = {}
        ok = True
        with self._cond:
            items = list(self._slots.items())
        for name, slot in items:
            age = None if slot.received is None else now - slot.received
            flowing = age is not None and age < self.stale_after
            ok = ok and flowing
            per[name] = {"flowing": flowing, "frames": slot.frames,
                         "last_frame_age_s": None if age is None else round(age, 3)}
        ok = ok and bool(items) and self.status in ("running", "reloading")
        return ok, {"status": self.status if ok or self.status != "running" else "stalled",
                    "ok": ok, "uptime_s": round(now - self.started, 3), "sources": per}

    def events_since(self, since=None, limit=100):
        with self._cond:
            rows = [e for e in self._events if since is None or e["received"] > since]
        return rows[-limit:] if limit else rows

    def jpeg(self, source, after_seq=None, timeout=None):
        """(jpeg bytes, seq) of the newest frame; waits up to ``timeout`` for one newer than ``after_seq``."""
        deadline = None if timeout is None else time.monotonic() + timeout
        with self._cond:
            while True:
                slot = self._slots.get(source)
                if slot is None:
                    raise KeyError(source)
                fresh = slot.image is not None and (after_seq is None or slot.seq > after_seq)
                if fresh or self.closed.is_set() or deadline is None:
                    break
                left = deadline - time.monotonic()
                if left <= 0:
                    break
                self._cond.wait(left)
            if slot.image is None or (after_seq is not None and slot.seq <= after_seq):
                return None, slot.seq
            if slot.jpeg_seq == slot.seq:
                return slot.jpeg, slot.seq
            image, people, seq = slot.image, slot.people, slot.seq
        data = self._encode(image, people)
        with self._cond:
            if slot.seq == seq:
                slot.jpeg, slot.jpeg_seq = data, seq
        return data, seq

    def _encode(self, image, people):
        import cv2

        if self.annotate is not None:
            image = self.annotate(image.copy(), people)
        ok, buf = cv2.imencode(".jpg", image, [int(cv2.IMWRITE_JPEG_QUALITY), self.jpeg_quality])
        if not ok:
            raise RuntimeError("JPEG encoding failed")
        return buf.tobytes()


# -- security -----------------------------------------------------------------------------------
def is_loopback(host):
    if host in ("localhost",):
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def resolve_token(env=None, token_file=None):
    """The HTTP token: ``$EDGEPOSE_HTTP_TOKEN``, ``$CREDENTIALS_DIRECTORY/http_token`` or ``token_file``."""
    env = os.environ if env is None else env
    token = (env.get(TOKEN_ENV) or "").strip()
    if token:
        return token
    paths = []
    if env.get("CREDENTIALS_DIRECTORY"):
        paths.append(os.path.join(env["CREDENTIALS_DIRECTORY"], TOKEN_CREDENTIAL))
    if token_file:
        paths.append(token_file)
    for p in paths:
        if os.path.isfile(p):
            try:
                with open(p, "r", encoding="utf-8") as f:
                    token = f.read().strip()
            except OSError as e:
                raise ConfigError("%s: cannot read the HTTP token (%s)" % (p, e.strerror))
            if token:
                return token
    return None


def check_bind(host, token):
    """Refuse to serve a non-loopback address without a token."""
    if not is_loopback(host) and not token:
        raise ConfigError(
            "http.host %r is not a loopback address: set a token (env %s, or systemd LoadCredential=%s:FILE) "
            "or bind 127.0.0.1" % (host, TOKEN_ENV, TOKEN_CREDENTIAL))


def authorized(header, token):
    """True when ``header`` (the Authorization value) carries ``token``; constant-time compare."""
    if not token:
        return True
    if not header:
        return False
    scheme, _, value = header.strip().partition(" ")
    value = value.strip()
    if scheme.lower() == "basic":
        try:
            value = base64.b64decode(value, validate=True).decode("utf-8").partition(":")[2]
        except (ValueError, UnicodeDecodeError):
            return False
    elif scheme.lower() != "bearer":
        return False
    return hmac.compare_digest(value.encode("utf-8"), token.encode("utf-8"))


# -- server -------------------------------------------------------------------------------------
class _Handler(BaseHTTPRequestHandler):
    server_version = "edgepose"
    protocol_version = "HTTP/1.1"

    def log_message(self, fmt, *args):
        log.debug("%s %s", self.address_string(), fmt % args)

    def _send(self, code, body, ctype="application/json", extra=()):
        if isinstance(body, str):
            body = body.encode("utf-8")
        self.send_response(code)
        self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(len(body)))
        self.send_header("Cache-Control", "no-store")
        for k, v in extra:
            self.send_header(k, v)
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)

    def _error(self, code, message, extra=()):
        self._send(code, to_json({"error": message}) + "\n", extra=extra)

    def do_HEAD(self):
        self.do_GET()

    def do_GET(self):
        api = self.server.api
        if not authorized(self.headers.get("Authorization"), api.token):
            return self._error(401, "missing or wrong token (Authorization: Bearer TOKEN)",
                               extra=[("WWW-Authenticate", 'Basic realm="edgepose"')])
        url = urlsplit(self.path)
        query = {k: v[-1] for k, v in parse_qs(url.query).items()}
        route = {"/healthz": self._healthz, "/metrics": self._metrics, "/snapshot.jpg": self._snapshot,
                 "/stream.mjpg": self._stream, "/events": self._events, "/": self._index}.get(url.path)
        if route is None:
            return self._error(404, "no such endpoint: %s" % url.path)
        try:
            route(api.state, query)
        except (BrokenPipeError, ConnectionResetError):
            pass
        except ValueError as e:
            self._error(400, str(e))
        except Exception as e:  # never a traceback on stderr per request; one rate-limited log line
            log.warning("HTTP %s failed: %s: %s", url.path, type(e).__name__, e)
            try:
                self._error(500, "internal error: %s" % type(e).__name__)
            except OSError:
                pass

    def _index(self, state, query):
        links = ["/healthz", "/metrics", "/events"]
        for s in state.sources():
            links += ["/snapshot.jpg?source=%s" % s, "/stream.mjpg?source=%s" % s]
        body = "<html><body><h1>edgepose</h1><ul>%s</ul></body></html>" % "".join(
            '<li><a href="%s">%s</a></li>' % (l, l) for l in links)
        self._send(200, body, "text/html; charset=utf-8")

    def _healthz(self, state, query):
        ok, body = state.health()
        self._send(200 if ok else 503, to_json(body) + "\n")

    def _metrics(self, state, query):
        self._send(200, render_prometheus(state.metrics()), "text/plain; version=0.0.4; charset=utf-8")

    def _source(self, state, query):
        names = state.sources()
        name = query.get("source") or (names[0] if names else None)
        if name not in names:
            self._error(404, "unknown source %r (sources: %s)" % (name, ", ".join(names) or "none"))
            return None
        return name

    def _snapshot(self, state, query):
        name = self._source(state, query)
        if name is None:
            return
        data, _ = state.jpeg(name)
        if data is None:
            return self._error(503, "no frame from source %r yet" % name)
        self._send(200, data, "image/jpeg")

    def _stream(self, state, query):
        name = self._source(state, query)
        if name is None:
            return
        fps = float(query.get("fps", 10))
        if not 0 < fps <= 60:
            raise ValueError("fps must be in (0, 60]")
        self.send_response(200)
        self.send_header("Content-Type", "multipart/x-mixed-replace; boundary=%s" % BOUNDARY)
        self.send_header("Cache-Control", "no-store")
        self.send_header("Connection", "close")
        self.end_headers()
        self.close_connection = True
        seq = None
        while not state.closed.is_set() and not self.server.api.stopping.is_set():
            t0 = time.monotonic()
            data, new_seq = state.jpeg(name, after_seq=seq, timeout=1.0)
            if data is None:
                continue
            seq = new_seq
            self.wfile.write(("--%s\r\nContent-Type: image/jpeg\r\nContent-Length: %d\r\n\r\n"
                              % (BOUNDARY, len(data))).encode("ascii"))
            self.wfile.write(data)
            self.wfile.write(b"\r\n")
            self.wfile.flush()
            time.sleep(max(0.0, 1.0 / fps - (time.monotonic() - t0)))

    def _events(self, state, query):
        since = float(query["since"]) if query.get("since") else None
        limit = int(query.get("limit", 100))
        rows = state.events_since(since, limit)
        self._send(200, to_json({"now": state.clock(), "events": rows}) + "\n")


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True


class HttpApi:
    """The HTTP server in its own thread. ``start()`` binds (raising ``ConfigError`` on failure)."""

    def __init__(self, state, host="127.0.0.1", port=8080, token=None):
        check_bind(host, token)
        self.state = state
        self.host = host
        self.port = int(port)
        self.token = token
        self.stopping = threading.Event()
        self._server = None
        self._thread = None

    @property
    def address(self):
        return self._server.server_address[:2] if self._server else (self.host, self.port)

    def start(self):
        server_cls = _Server
        if ":" in self.host:
            server_cls = type("_Server6", (_Server,), {"address_family": socket.AF_INET6})
        try:
            self._server = server_cls((self.host.strip("[]"), self.port), _Handler)
        except OSError as e:
            raise ConfigError("http: cannot listen on %s:%d (%s): pick another http.port or stop what uses it"
                              % (self.host, self.port, e.strerror or e))
        self._server.api = self
        self._thread = threading.Thread(target=self._server.serve_forever, kwargs={"poll_interval": 0.2},
                                        name="http", daemon=True)
        self._thread.start()
        host, port = self.address
        log.info("HTTP on http://%s:%d/ (%s)", host, port, "token required" if self.token else "no token")
        return self

    def stop(self):
        self.stopping.set()
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None
        if self._thread is not None:
            self._thread.join(timeout=2)
            self._thread = None
