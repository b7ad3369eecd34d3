"""A bounded HTTP server for the daemon: nobody can exhaust its threads, descriptors or memory
before authenticating.

``ThreadingHTTPServer`` alone gives every connection a thread with no timeout, reads 100 header
lines of 64 KiB each (6.4 MB a request) before the token is looked at, and lets idle connections
pile up until the process runs out of file descriptors (then the MQTT queue, the camera and lazy
imports fail too). Here:

- at most ``max_connections`` connections hold a thread; when a new one arrives at the cap, the
  connection that has been waiting longest for its request is closed to make room (an idle or
  slow client can never lock out a real request); when every slot is busy answering, the new
  connection gets a 503 at once from the accepting thread, with no thread of its own;
- a request line and headers must arrive within ``request_timeout_s`` (checked by the accepting
  thread, so a byte every few seconds does not help) and fit in ``max_header_bytes`` (else 431);
  the same timeout bounds every socket read and write afterwards (a stalled MJPEG client ends);
- TCP_NODELAY on every connection (keep-alive requests answered without the 40 ms Nagle delay).

``HttpLimits`` holds the numbers; ``counters`` what happened (exported on ``/metrics``).
"""
import json
import logging
import socket
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import NamedTuple

log = logging.getLogger(__name__)


class HttpLimits(NamedTuple):
    max_connections: int = 32
    max_stream_clients: int = 4
    request_timeout_s: float = 10.0
    max_header_bytes: int = 16384


class HeadersTooLarge(Exception):
    """The request line and headers passed ``max_header_bytes``."""


class _CappedReader(object):
    """The connection's reader with a byte budget for the request line and headers."""

    def __init__(self, raw):
        self.raw = raw
        self.left = None

    def arm(self, limit):
        self.left = int(limit)

    def disarm(self):
        self.left = None

    def readline(self, size=-1):
        if self.left is None:
            return self.raw.readline(size)
        want = self.left + 1 if size is None or size < 0 else min(size, self.left + 1)
        line = self.raw.readline(want)
        self.left -= len(line)
        if self.left < 0:
            raise HeadersTooLarge()
        return line

    def __getattr__(self, name):
        return getattr(self.raw, name)


class _Conn(object):
    __slots__ = ("sock", "state", "since")

    def __init__(self, sock):
        self.sock = sock
        self.state = "waiting"  # for its request line and headers; then "busy" / "stream"
        self.since = time.monotonic()


def _json_response(code, reason, message, extra=""):
    body = (json.dumps({"error": message}) + "\n").encode("utf-8")
    head = ("HTTP/1.1 %d %s\r\nServer: edgepose\r\nContent-Type: application/json\r\nContent-Length: %d\r\n"
            "Cache-Control: no-store\r\nConnection: close\r\n%s\r\n" % (code, reason, len(body), extra))
    return head.encode("ascii") + body


_BUSY = _json_response(503, "Service Unavailable", "too many connections: try again", "Retry-After: 2\r\n")


class BoundedHTTPServer(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True
    request_queue_size = 128

    def __init__(self, address, handler, limits=None):
        self.limits = limits or HttpLimits()
        self._conns = {}
        self._conns_lock = threading.Lock()
        self.streams = 0
        self.counters = {"refused_busy": 0, "evicted_idle": 0, "timed_out": 0, "headers_too_large": 0}
        super().__init__(address, handler)

    # -- accepting thread ------------------------------------------------------------------------
    def process_request(self, request, client_address):
        victim, busy = None, False
        with self._conns_lock:
            if len(self._conns) >= self.limits.max_connections:
                waiting = [c for c in self._conns.values() if c.state == "waiting"]
                if waiting:
                    victim = min(waiting, key=lambda c: c.since)
                    victim.state = "closing"
                    self.counters["evicted_idle"] += 1
                else:
                    busy = True
                    self.counters["refused_busy"] += 1
            if not busy:
                self._conns[request] = _Conn(request)
        if victim is not None:
            _hang_up(victim.sock)
        if busy:
            try:
                request.settimeout(0.2)
                request.sendall(_BUSY)
            except OSError:
                pass
            self.shutdown_request(request)
            return
        super().process_request(request, client_address)

    def service_actions(self):
        """Every poll interval: close connections whose request did not arrive in time."""
        limit = self.limits.request_timeout_s
        now = time.monotonic()
        late = []
        with self._conns_lock:
            for c in self._conns.values():
                if c.state == "waiting" and now - c.since > limit:
                    c.state = "closing"
                    late.append(c.sock)
            self.counters["timed_out"] += len(late)
        for sock in late:
            _hang_up(sock)

    # -- handler threads -------------------------------------------------------------------------
    def mark(self, sock, state):
        with self._conns_lock:
            c = self._conns.get(sock)
            if c is not None and c.state != "closing":
                c.state, c.since = state, time.monotonic()

    def try_stream(self):
        with self._conns_lock:
            if self.streams >= self.limits.max_stream_clients:
                return False
            self.streams += 1
            return True

    def end_stream(self):
        with self._conns_lock:
            self.streams -= 1

    def shutdown_request(self, request):
        with self._conns_lock:
            self._conns.pop(request, None)
        super().shutdown_request(request)

    @property
    def connections(self):
        with self._conns_lock:
            return len(self._conns)


def _hang_up(sock):
    """Wake the thread blocked reading ``sock``: it sees the end of the stream and closes it."""
    try:
        sock.shutdown(socket.SHUT_RDWR)
    except OSError:
        pass


class BoundedHandler(BaseHTTPRequestHandler):
    """Request handler for ``BoundedHTTPServer``: timeouts, header budget, no version disclosed."""

    server_version = "edgepose"
    protocol_version = "HTTP/1.1"
    disable_nagle_algorithm = True

    def setup(self):
        self.timeout = self.server.limits.request_timeout_s
        super().setup()
        self.rfile = _CappedReader(self.rfile)

    def version_string(self):
        return self.server_version

    def handle_one_request(self):
        self.server.mark(self.connection, "waiting")
        self.rfile.arm(self.server.limits.max_header_bytes)
        try:
            super().handle_one_request()
        except HeadersTooLarge:
            self.close_connection = True
            self.server.counters["headers_too_large"] += 1
            try:
                self.wfile.write(_json_response(431, "Request Header Fields Too Large",
                                                "request line and headers over %d bytes"
                                                % self.server.limits.max_header_bytes))
            except OSError:
                pass
        except OSError:  # reset, timed out, hung up on: this connection is over
            self.close_connection = True
        finally:
            self.rfile.disarm()

    def request_started(self):
        """Call once the headers are read: the connection is no longer waiting."""
        self.rfile.disarm()
        self.server.mark(self.connection, "busy")
