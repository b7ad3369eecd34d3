"""The event feed appended to a JSON-lines file by a worker thread."""
import io
import os

from ..errors import SinkError
from .base import ThreadedSink


class JsonlSink(ThreadedSink):
    name = "jsonl"

    def __init__(self, config):
        self.path = os.fspath(config.path)
        parent = os.path.dirname(os.path.abspath(self.path))
        if not os.path.isdir(parent):
            raise SinkError("sinks.jsonl.path %s: folder %s does not exist" % (self.path, parent))
        self.fsync = config.fsync
        fd = os.open(self.path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)  # who fell where: private
        self._f = io.open(fd, "a", encoding="utf-8")
        super(JsonlSink, self).__init__(config.max_queue)

    def deliver(self, line):
        self._f.write(line + "\n")
        self._f.flush()
        if self.fsync:
            os.fsync(self._f.fileno())

    def closed(self):
        if not self._f.closed:
            self._f.close()
