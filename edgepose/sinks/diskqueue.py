"""A bounded FIFO queue on disk: one file per item, written atomically, surviving restarts.

Each item is a file ``<seq:020d>.msg`` in the queue folder, written to a temporary name, flushed
(and fsynced when ``fsync``), then renamed into place with ``os.replace``: a crash leaves either the
whole item or none of it. Sequence numbers only grow, so the file names sort in arrival order; a
restart reads the folder and continues after the highest one. When the queue is full the oldest
item is dropped (with a warning): for alerts the newest news matters most. The folder is locked
(``flock`` on ``.lock``) while a queue uses it, so two sinks never interleave their numbering.
"""
import logging
import os
import threading
from collections import deque

from ..atomic import write_atomic
from ..errors import SinkError

log = logging.getLogger(__name__)

_SUFFIX = ".msg"


class DiskQueue(object):
    def __init__(self, path, max_items=10000, fsync=True):
        self.path = os.fspath(path)
        self.max_items = int(max_items)
        self.fsync = fsync
        self.dropped = 0
        self._lock = threading.Lock()
        try:
            os.makedirs(self.path, exist_ok=True)
        except OSError as e:
            raise SinkError("%s: cannot create the queue folder (%s); set queue_dir to a writable folder"
                            % (self.path, e.strerror or e))
        self._lock_file = _lock(self.path)
        seqs = []
        for name in os.listdir(self.path):
            full = os.path.join(self.path, name)
            if name.endswith(".tmp"):
                _unlink(full)  # an item whose write was interrupted: it was never queued
            elif name.endswith(_SUFFIX) and name[:-len(_SUFFIX)].isdigit():
                seqs.append(int(name[:-len(_SUFFIX)]))
        seqs.sort()
        self._seqs = deque(seqs)
        self._next = (seqs[-1] + 1) if seqs else 1
        if seqs:
            log.info("%s: %d queued message(s) from before the restart", self.path, len(seqs))

    def _file(self, seq):
        return os.path.join(self.path, "%020d%s" % (seq, _SUFFIX))

    def __len__(self):
        with self._lock:
            return len(self._seqs)

    def put(self, data):
        """Append ``data`` (bytes); returns its sequence number."""
        with self._lock:
            seq = self._next
            self._next += 1
            final = self._file(seq)
            write_atomic(final, data, fsync=self.fsync, makedirs=False)
            self._seqs.append(seq)
            while len(self._seqs) > self.max_items:
                old = self._seqs.popleft()
                _unlink(self._file(old))
                self.dropped += 1
                log.warning("%s: queue full (%d): oldest message %d dropped", self.path, self.max_items, old)
            return seq

    def peek(self, n=1, after=0):
        """Up to ``n`` (seq, bytes) from the head, skipping seq <= ``after``."""
        out = []
        with self._lock:
            seqs = [s for s in self._seqs if s > after][:n]
        for s in seqs:
            try:
                with open(self._file(s), "rb") as f:
                    out.append((s, f.read()))
            except OSError:  # removed meanwhile
                continue
        return out

    def remove(self, seq):
        """Delete item ``seq`` (acknowledged). Unknown seqs are ignored."""
        with self._lock:
            try:
                self._seqs.remove(seq)
            except ValueError:
                return False
            _unlink(self._file(seq))
            return True

    def seqs(self):
        with self._lock:
            return list(self._seqs)

    def close(self):
        """Release the folder for another queue (the items stay on disk)."""
        if self._lock_file is not None:
            self._lock_file.close()
            self._lock_file = None


class QueueBusy(SinkError):
    """The queue folder is held by another DiskQueue (another sink or process)."""


def _lock(path):
    """An exclusive lock on ``path/.lock`` (POSIX), so two queues never share a folder."""
    try:
        import fcntl
    except ImportError:  # pragma: no cover - not POSIX
        return None
    f = open(os.path.join(path, ".lock"), "a")
    try:
        fcntl.flock(f.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError:
        f.close()
        raise QueueBusy("%s: the queue folder is in use by another sink or process" % path)
    return f


def _unlink(path):
    try:
        os.unlink(path)
    except OSError:
        pass
