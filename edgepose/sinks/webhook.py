"""HTTP POST of each event change as JSON (urllib), retried with exponential backoff.

A worker thread delivers the changes in order; a failure (connection error, timeout, HTTP 5xx, 408
or 429) is retried after ``backoff_initial_s``, doubling up to ``backoff_max_s``, ``max_attempts``
times (0: until it works or the sink closes); other 4xx answers are not retried. The queue is
bounded (oldest dropped), so a dead endpoint never grows memory or stalls the loop; every change
not delivered (refused, given up, dropped, still queued at close) is counted (``stats()``, exported
on ``/metrics``) and logged with the count.

The URL is a secret too (``user:pass@``, Home Assistant webhook ids in the path, ``?token=``): logs
only ever show ``scheme://host:port/…``. ``user:pass@`` in the URL is sent as HTTP Basic auth.
"""
import base64
import logging
import urllib.error
import urllib.request
from urllib.parse import unquote, urlsplit, urlunsplit

from .. import __version__
from ..errors import SinkError
from ..validation import read_secret
from .base import SinkClosing, ThreadedSink, change_json

log = logging.getLogger(__name__)


def masked_url(url):
    """``url`` without anything secret: scheme, host and port only."""
    try:
        parts = urlsplit(url)
        host = parts.hostname or "?"
        port = ":%d" % parts.port if parts.port else ""
    except ValueError:
        return "<webhook url>"
    if ":" in host:
        host = "[%s]" % host
    rest = "/…" if (parts.path not in ("", "/") or parts.query or parts.fragment) else "/"
    return "%s://%s%s%s" % (parts.scheme, host, port, rest)


def split_userinfo(url):
    """(url without ``user:pass@``, (user, password) or None)."""
    parts = urlsplit(url)
    if parts.username is None and parts.password is None:
        return url, None
    netloc = parts.hostname or ""
    if ":" in netloc:
        netloc = "[%s]" % netloc
    if parts.port:
        netloc += ":%d" % parts.port
    return urlunsplit((parts.scheme, netloc, parts.path, parts.query, parts.fragment)), (
        unquote(parts.username or ""), unquote(parts.password or ""))


class WebhookSink(ThreadedSink):
    name = "webhook"

    def __init__(self, config):
        self.cfg = config
        self.url, userinfo = split_userinfo(config.url)
        self.shown = masked_url(config.url)
        self.headers = {"Content-Type": "application/json", "User-Agent": "edgepose/%s" % __version__}
        self.headers.update(config.headers)
        token = read_secret(config.token_env, config.token_credential)
        if token and userinfo:
            raise SinkError("sinks.webhook: the url has user:password@ and a token is set (%s): use one of them"
                            % config.token_env)
        if token:
            self.headers["Authorization"] = "Bearer %s" % token
        elif userinfo:
            pair = ("%s:%s" % userinfo).encode("utf-8")
            self.headers["Authorization"] = "Basic %s" % base64.b64encode(pair).decode("ascii")
        self.labels = set(config.labels)
        self.attempts = 0
        self.connected = None  # unknown until the first attempt
        super(WebhookSink, self).__init__(config.max_queue)

    def prepare(self, change, frame=None):
        if self.labels and change.after.label not in self.labels:
            return None
        return change_json(change).encode("utf-8")

    def _post(self, body):
        req = urllib.request.Request(self.url, data=body, headers=self.headers, method="POST")
        with urllib.request.urlopen(req, timeout=self.cfg.timeout_s) as resp:
            resp.read()
            return resp.status

    def deliver(self, body):
        cfg = self.cfg
        delay = cfg.backoff_initial_s
        attempt = 0
        while True:
            attempt += 1
            self.attempts += 1
            try:
                self._post(body)
                self.connected = True
                if attempt > 1:
                    log.info("webhook %s: delivered after %d attempts", self.shown, attempt)
                return
            except urllib.error.HTTPError as e:
                self.connected = e.code < 500
                if 400 <= e.code < 500 and e.code not in (408, 429):
                    raise RuntimeError("%s answered HTTP %d: change not delivered (not retried)" % (self.shown, e.code))
                why = "HTTP %d" % e.code
            except (urllib.error.URLError, OSError, ValueError) as e:
                self.connected = False
                why = _reason(e)
            if cfg.max_attempts and attempt >= cfg.max_attempts:
                raise RuntimeError("%s: giving up after %d attempts (%s)" % (self.shown, attempt, why))
            log.warning("webhook %s: %s; retry %d in %.1f s", self.shown, why, attempt, delay)
            if self._stop.wait(delay):
                self._last_why = why
                raise SinkClosing()
            delay = min(delay * 2.0, cfg.backoff_max_s)

    _last_why = "closing"

    def describe_loss(self):
        return "%s: %s" % (self.shown, self._last_why)

    def stats(self):
        st = super(WebhookSink, self).stats()
        st["connected"] = self.connected
        return st


def _reason(e):
    """The error without the URL in it (urllib puts the whole URL in some messages)."""
    text = str(getattr(e, "reason", e))
    return type(e).__name__ if "://" in text else text
