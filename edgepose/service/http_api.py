"""The daemon's HTTP endpoints (standard library only): health, metrics, snapshots, MJPEG, events.

- ``/healthz``: 200 and a JSON status while every source delivers frames, 503 otherwise.
- ``/metrics``: Prometheus text format (the service supplies the metric families).
- ``/snapshot.jpg?source=NAME``: the latest frame of a source with the skeletons drawn.
- ``/stream.mjpg?source=NAME[&fps=N]``: ``multipart/x-mixed-replace`` MJPEG a browser can open.
- ``/events?since=UNIX_SECONDS[&limit=N]``: recent event changes as JSON.

Binds 127.0.0.1 by default; who may connect is decided in ``auth``. The data comes from a
``LiveState`` (``live``); the metric families from ``metrics``. Connections, timeouts and header
sizes are bounded by ``httpserver`` (``HttpLimits``); at most ``max_stream_clients`` MJPEG streams
run at once (503 above), and each frame is encoded once for all of them.
"""
import logging
import math
import select
import socket
import threading
import time
from urllib.parse import parse_qs, urlsplit

from ..errors import ConfigError
from .auth import authorized, check_bind
from .httpserver import BoundedHandler, BoundedHTTPServer, HttpLimits
from .live import to_json
from .metrics import render_prometheus

log = logging.getLogger(__name__)

BOUNDARY = "edgeposeframe"
MIN_FPS, MAX_FPS = 0.2, 60.0


class BadRequest(ValueError):
    """A query value we refuse; the message is ours (never Python's exception text)."""


def _number(query, key, default, kind, low, high, what):
    text = query.get(key)
    if text is None or text == "":
        return default
    try:
        value = kind(text)
    except ValueError:
        raise BadRequest("%s must be %s" % (key, what))
    if isinstance(value, float) and not math.isfinite(value) or not low <= value <= high:
        raise BadRequest("%s must be %s" % (key, what))
    return value


class _Handler(BoundedHandler):
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
        self.request_started()
        self._streaming = False
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
        except OSError:  # the client went away or stalled past the timeout
            self.close_connection = True
        except BadRequest as e:
            self._error(400, str(e))
        except Exception as e:  # never a traceback on stderr per request; one rate-limited log line
            log.warning("HTTP %s failed: %s: %s", url.path, type(e).__name__, e)
            self.close_connection = True
            if not self._streaming:  # an error never lands inside an open MJPEG stream
                try:
                    self._error(500, "internal error")
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
        fps = _number(query, "fps", 10.0, float, MIN_FPS, MAX_FPS, "a number from %g to %g" % (MIN_FPS, MAX_FPS))
        if not self.server.try_stream():
            return self._error(503, "too many stream clients (%d): try again later"
                               % self.server.limits.max_stream_clients, extra=[("Retry-After", "5")])
        try:
            self._stream_frames(state, name, fps)
        finally:
            self.server.end_stream()

    def _stream_frames(self, state, name, fps):
        self.server.mark(self.connection, "stream")
        self._streaming = True
        self.send_response(200)
        self.send_header("Content-Type", "multipart/x-mixed-replace; boundary=%s" % BOUNDARY)
        self.send_header("Cache-Control", "no-store")
        self.send_header("Connection", "close")
        self.end_headers()
        self.close_connection = True
        seq = None
        stopping = self.server.api.stopping
        while not state.closed.is_set() and not stopping.is_set():
            t0 = time.monotonic()
            data, new_seq = state.jpeg(name, after_seq=seq, timeout=1.0)
            if data is None:
                if self._client_gone():  # no new frame to write: notice a client that left anyway
                    return
                continue
            seq = new_seq
            self.wfile.write(("--%s\r\nContent-Type: image/jpeg\r\nContent-Length: %d\r\n\r\n"
                              % (BOUNDARY, len(data))).encode("ascii"))
            self.wfile.write(data)
            self.wfile.write(b"\r\n")
            self.wfile.flush()
            stopping.wait(max(0.0, 1.0 / fps - (time.monotonic() - t0)))

    def _client_gone(self):
        try:
            readable, _, _ = select.select([self.connection], [], [], 0)
            return bool(readable) and self.connection.recv(1, socket.MSG_PEEK) == b""
        except (OSError, ValueError):
            return True

    def _events(self, state, query):
        since = _number(query, "since", None, float, 0.0, 1e11, "UNIX seconds (a finite number >= 0)")
        limit = _number(query, "limit", 100, int, 1, 100000, "an integer from 1 to 100000")
        rows = state.events_since(since, limit)
        self._send(200, to_json({"now": state.clock(), "events": rows}) + "\n")


class HttpApi:
    """The HTTP server in its own thread. ``start()`` binds (raising ``ConfigError`` on failure)."""

    def __init__(self, state, host="127.0.0.1", port=8080, token=None, limits=None):
        check_bind(host, token)
        self.state = state
        self.host = host
        self.port = int(port)
        self.token = token
        self.limits = limits or HttpLimits()
        self.stopping = threading.Event()
        self._server = None
        self._thread = None

    @property
    def address(self):
        return self._server.server_address[:2] if self._server else (self.host, self.port)

    def start(self):
        server_cls = BoundedHTTPServer
        if ":" in self.host:
            server_cls = type("_Server6", (BoundedHTTPServer,), {"address_family": socket.AF_INET6})
        try:
            self._server = server_cls((self.host.strip("[]"), self.port), _Handler, self.limits)
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

    def stats(self):
        """Connections now and the refusals so far (for /metrics)."""
        srv = self._server
        if srv is None:
            return {}
        return dict(srv.counters, connections=srv.connections, streams=srv.streams)

    def stop(self):
        self.stopping.set()
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None
        if self._thread is not None:
            self._thread.join(timeout=2)
            self._thread = None
