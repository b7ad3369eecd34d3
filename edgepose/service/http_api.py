"""The daemon's HTTP endpoints (standard library only): health, metrics, snapshots, MJPEG, events.

- ``/healthz``: 200 and a JSON status while every source delivers frames, 503 otherwise.
- ``/metrics``: Prometheus text format (the service supplies the metric families).
- ``/snapshot.jpg?source=NAME``: the latest frame of a source with the skeletons drawn.
- ``/stream.mjpg?source=NAME[&fps=N]``: ``multipart/x-mixed-replace`` MJPEG a browser can open.
- ``/events?since=UNIX_SECONDS[&limit=N]``: recent event changes as JSON.

Binds 127.0.0.1 by default; who may connect is decided in ``auth``. The data comes from a
``LiveState`` (``live``); the metric families from ``metrics``.
"""
import logging
import socket
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlsplit

from ..errors import ConfigError
from .auth import authorized, check_bind
from .live import to_json
from .metrics import render_prometheus

log = logging.getLogger(__name__)

BOUNDARY = "edgeposeframe"


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
