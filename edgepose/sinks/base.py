"""The sink protocol and a worker-thread base for sinks that do I/O."""
import json
import logging
import queue
import threading
import time

log = logging.getLogger(__name__)


def change_json(change):
    """The ``EventChange`` as compact JSON text (type/before/after: the feed's public shape)."""
    return json.dumps(change.to_json(), separators=(",", ":"), allow_nan=False, default=str)


class Sink(object):
    """Receives ``EventChange`` values. ``handle`` never blocks the loop; ``close(timeout)`` flushes.

    ``handle`` returns None, or the change as the sinks after it should see it (the snapshot sink
    returns it with the path of the snapshot it wrote).
    """

    name = "sink"

    def handle(self, change, frame=None):
        raise NotImplementedError

    def close(self, timeout=5.0):
        pass

    def stats(self):
        return {}


class SinkClosing(Exception):
    """Raised by ``deliver`` when the sink closes before the item could be delivered."""


class ThreadedSink(Sink):
    """A sink whose ``handle`` only enqueues (bounded, oldest dropped) for a worker thread.

    Subclasses implement ``deliver(item)`` (may block, may raise: errors are logged and counted)
    and may override ``prepare(change, frame)`` (runs in the loop, must be cheap; returns the item
    or None to skip).
    """

    def __init__(self, max_queue=1000):
        self._q = queue.Queue(maxsize=max_queue)
        self._stop = threading.Event()
        self.sent = 0
        self.failed = 0
        self.dropped = 0
        self._thread = threading.Thread(target=self._run, name="sink-%s" % self.name, daemon=True)
        self._thread.start()

    def prepare(self, change, frame=None):
        return change_json(change)

    def handle(self, change, frame=None):
        item = self.prepare(change, frame)
        if item is None:
            return
        while True:
            try:
                self._q.put_nowait(item)
                return
            except queue.Full:
                try:
                    self._q.get_nowait()
                    self.dropped += 1
                    log.warning("%s sink: queue full, oldest change dropped", self.name)
                except queue.Empty:
                    pass

    def _run(self):
        while True:
            try:
                item = self._q.get(timeout=0.2)
            except queue.Empty:
                if self._stop.is_set():
                    return
                continue
            try:
                self.deliver(item)
                self.sent += 1
            except SinkClosing:
                self.dropped += 1  # counted and reported by close()
            except Exception as e:
                self.failed += 1
                log.error("%s sink: %s", self.name, e)
            finally:
                self._q.task_done()

    def deliver(self, item):
        raise NotImplementedError

    def close(self, timeout=5.0):
        """Deliver what can be delivered within ``timeout``; what is left is counted as dropped and
        reported in one line (never silently)."""
        deadline = time.monotonic() + timeout
        while self._q.unfinished_tasks and time.monotonic() < deadline:
            time.sleep(0.01)
        dropped_before = self.dropped
        self._stop.set()
        self._thread.join(max(0.0, deadline - time.monotonic()) + 1.0)
        left = 0
        while True:
            try:
                self._q.get_nowait()
                left += 1
            except queue.Empty:
                break
        self.dropped += left
        lost = self.dropped - dropped_before
        if lost:
            log.error("%s sink: %d change(s) not delivered at close: lost (%s)", self.name, lost, self.describe_loss())
        self.closed()

    def describe_loss(self):
        return "closing"

    def closed(self):
        pass

    def stats(self):
        return {"sent": self.sent, "failed": self.failed, "dropped": self.dropped, "queued": self._q.qsize()}
