"""HTTP POST of each event change as JSON (urllib), retried with exponential backoff.

A worker thread delivers the changes in order; a failure (connection error, timeout, HTTP 5xx, 408
or 429) is retried after ``backoff_initial_s``, doubling up to ``backoff_max_s``, ``max_attempts``
times (0: until it works or the sink closes); other 4xx answers are not retried. The queue is
bounded (oldest dropped), so a dead endpoint never grows memory or stalls the loop.
"""
import logging
import urllib.error
import urllib.request

from .. import __version__
from .base import ThreadedSink, change_json
from ..validation import read_secret

log = logging.getLogger(__name__)


class WebhookSink(ThreadedSink):
    name = "webhook"

    def __init__(self, config):
        self.cfg = config
        self.url = config.url
        self.headers = {"Content-Type": "application/json", "User-Agent": "edgepose/%s" % __version__}
        self.headers.update(config.headers)
        token = read_secret(config.token_env, config.token_credential)
        if token:
            self.headers["Authorization"] = "Bearer %s" % token
        self.labels = set(config.labels)
        self.attempts = 0
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
                if attempt > 1:
                    log.info("webhook %s: delivered after %d attempts", self.url, attempt)
                return
            except urllib.error.HTTPError as e:
                if 400 <= e.code < 500 and e.code not in (408, 429):
                    raise RuntimeError("%s answered HTTP %d: change not delivered (not retried)" % (self.url, e.code))
                why = "HTTP %d" % e.code
            except (urllib.error.URLError, OSError) as e:
                why = str(getattr(e, "reason", e))
            if cfg.max_attempts and attempt >= cfg.max_attempts:
                raise RuntimeError("%s: giving up after %d attempts (%s)" % (self.url, attempt, why))
            log.warning("webhook %s: %s; retry %d in %.1f s", self.url, why, attempt, delay)
            if self._stop.wait(delay):
                raise RuntimeError("%s: closing with a change undelivered (%s)" % (self.url, why))
            delay = min(delay * 2.0, cfg.backoff_max_s)
