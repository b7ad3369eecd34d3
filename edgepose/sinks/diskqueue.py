"""A bounded FIFO queue on disk, written in batches, surviving restarts and crashes.

Items are bytes. ``put_many(items)`` writes ONE segment file ``<first seq:020d>.seg`` holding the
whole batch, to a temporary name, fsynced (when ``fsync``), then renamed into place: a crash leaves
either the whole batch or none of it, and a burst of changes costs one fsync, not one per message
(an SD card does ~100 fsyncs a second). ``remove(seq)`` forgets an item (acknowledged); a segment
file is deleted once all its items are gone, and ``close()`` rewrites the partly consumed ones so
a clean restart sends nothing twice (after a crash, the acknowledged items of a partly consumed
segment come again: at-least-once). Sequence numbers only grow; a restart reads the folder and
continues after the highest one. Files of the older one-item-per-file format (``.msg``) are read too.

An item that cannot be sent (a malformed record) is ``set_aside``: copied to ``rejected/`` with
the reason logged, and removed from the queue, so it never blocks the ones behind it. A segment
that cannot be parsed is moved to ``rejected/`` whole (the items read before the damage stay
queued). When the queue is full the oldest items are dropped (counted, logged): for alerts the
newest news matters most. The folder (0700, files 0600: events say who fell where) is locked
(``flock`` on ``.lock``) while a queue uses it, so two sinks never interleave their numbering.
"""
import collections
import logging
import os
import threading

from ..atomic import write_atomic
from ..errors import SinkError

log = logging.getLogger(__name__)

_SEG = ".seg"
_MSG = ".msg"  # the older format: one raw item per file
_MAGIC = b"EPQ1\n"
REJECTED = "rejected"
MAX_REJECTED = 1000
_PERMS = 0o600


class _Segment(object):
    __slots__ = ("path", "live", "data", "legacy", "size")

    def __init__(self, path, seqs, data=None, legacy=False):
        self.path = path
        self.live = set(seqs)
        self.size = len(self.live)
        self.data = data  # {seq: bytes} while cached, else None (read again on demand)
        self.legacy = legacy


def encode_segment(items):
    """[(seq, bytes)] -> the bytes of a segment file."""
    parts = [_MAGIC]
    for seq, data in items:
        parts.append(b"%d %d\n" % (seq, len(data)))
        parts.append(bytes(data))
        parts.append(b"\n")
    return b"".join(parts)


def decode_segment(blob):
    """(dict seq -> bytes, error text or None): what could be read, and why the rest could not."""
    out = collections.OrderedDict()
    if not blob.startswith(_MAGIC):
        return out, "not a queue segment (bad header)"
    pos = len(_MAGIC)
    while pos < len(blob):
        nl = blob.find(b"\n", pos)
        try:
            if nl < 0:
                raise ValueError
            seq_text, size_text = blob[pos:nl].split(b" ")
            seq, size = int(seq_text), int(size_text)
            if size < 0:
                raise ValueError
        except ValueError:
            return out, "damaged record header at byte %d" % pos
        start, end = nl + 1, nl + 1 + size
        if blob[end:end + 1] != b"\n":
            return out, "truncated record %d at byte %d" % (seq, pos)
        out[seq] = blob[start:end]
        pos = end + 1
    return out, None


class DiskQueue(object):
    """FIFO of bytes on disk: ``put_many``/``put``, ``peek``, ``remove``, ``set_aside``, ``close``."""

    def __init__(self, path, max_items=10000, fsync=True):
        self.path = os.fspath(path)
        self.max_items = int(max_items)
        self.fsync = fsync
        self.dropped = 0
        self.rejected = 0
        self._lock = threading.Lock()
        try:
            os.makedirs(self.path, mode=0o700, exist_ok=True)
        except OSError as e:
            raise SinkError("%s: cannot create the queue folder (%s); set queue_dir to a writable folder"
                            % (self.path, e.strerror or e))
        self._lock_file = _lock(self.path)
        self._items = collections.OrderedDict()  # seq -> segment, in order
        self._segs = {}
        self._next = 1
        self._load()

    # -- start -----------------------------------------------------------------------------------
    def _load(self):
        found = []
        for name in os.listdir(self.path):
            full = os.path.join(self.path, name)
            if name.endswith(".tmp"):
                _unlink(full)  # a batch whose write was interrupted: it was never queued
                continue
            stem, ext = os.path.splitext(name)
            if ext in (_SEG, _MSG) and stem.isdigit():
                found.append((int(stem), ext, full))
        found.sort()
        for first, ext, full in found:
            if ext == _MSG:
                seg = _Segment(full, [first], legacy=True)
                seqs = [first]
            else:
                try:
                    with open(full, "rb") as f:
                        records, error = decode_segment(f.read())
                except OSError as e:
                    records, error = {}, e.strerror or str(e)
                if error is not None:
                    self._reject_file(full, error, kept=len(records))
                if not records:
                    continue
                seqs = sorted(records)
                seg = _Segment(full, seqs)
                if error is not None:  # the readable part, rewritten so the damage is gone
                    self._write(full, [(s, records[s]) for s in seqs])
            self._segs[full] = seg
            for s in seqs:
                self._items[s] = seg
        if self._items:
            self._items = collections.OrderedDict(sorted(self._items.items()))
            self._next = next(reversed(self._items)) + 1
            log.info("%s: %d queued message(s) from before the restart", self.path, len(self._items))

    def _reject_file(self, full, error, kept):
        dest = os.path.join(self._rejected_dir(), os.path.basename(full))
        try:
            os.replace(full, dest)
            where = "moved to %s" % dest
        except OSError as e:
            where = "could not be moved aside (%s)" % (e.strerror or e)
        self.rejected += 1
        log.error("%s: unreadable queue file (%s): %s; %d message(s) before the damage kept",
                  full, error, where, kept)

    def _rejected_dir(self):
        d = os.path.join(self.path, REJECTED)
        os.makedirs(d, mode=0o700, exist_ok=True)
        return d

    # -- writing ---------------------------------------------------------------------------------
    def _write(self, path, items):
        write_atomic(path, encode_segment(items), fsync=self.fsync, makedirs=False, perms=_PERMS)

    def put_many(self, items):
        """Append ``items`` (bytes each) as one segment, one fsync; returns their sequence numbers.

        Raises ``OSError`` when the segment cannot be written (nothing is queued then).
        """
        items = [bytes(d) for d in items]
        if not items:
            return []
        with self._lock:
            seqs = list(range(self._next, self._next + len(items)))
            path = os.path.join(self.path, "%020d%s" % (seqs[0], _SEG))
            self._write(path, list(zip(seqs, items)))
            self._next += len(items)
            seg = self._segs[path] = _Segment(path, seqs)
            for s in seqs:
                self._items[s] = seg
            full = len(self._items) - self.max_items
            dropped = [self._forget(next(iter(self._items))) for _ in range(max(0, full))]
            self.dropped += len(dropped)
        if dropped:
            log.warning("%s: queue full (%d): the %d oldest message(s) dropped (%d..%d)", self.path,
                        self.max_items, len(dropped), dropped[0], dropped[-1])
        return seqs

    def put(self, data):
        """Append one item; returns its sequence number."""
        return self.put_many([data])[0]

    # -- reading and removing --------------------------------------------------------------------
    def __len__(self):
        with self._lock:
            return len(self._items)

    def seqs(self):
        with self._lock:
            return list(self._items)

    def peek(self, n=1, after=0):
        """Up to ``n`` (seq, bytes) from the head, skipping seq <= ``after``."""
        out = []
        with self._lock:
            for seq, seg in self._items.items():
                if len(out) >= n:
                    break
                if seq <= after:
                    continue
                data = self._data(seg).get(seq)
                if data is not None:
                    out.append((seq, data))
        return out

    def _data(self, seg):
        if seg.data is None:
            try:
                with open(seg.path, "rb") as f:
                    blob = f.read()
            except OSError as e:
                log.error("%s: cannot read (%s)", seg.path, e.strerror or e)
                return {}
            seg.data = {min(seg.live): blob} if seg.legacy and seg.live else decode_segment(blob)[0]
        return seg.data

    def remove(self, seq):
        """Forget item ``seq`` (acknowledged). Unknown seqs are ignored; returns whether it was queued."""
        with self._lock:
            return self._forget(seq) is not None

    def _forget(self, seq):
        seg = self._items.pop(seq, None)
        if seg is None:
            return None
        seg.live.discard(seq)
        if not seg.live:
            _unlink(seg.path)
            self._segs.pop(seg.path, None)
        return seq

    def set_aside(self, seq, reason):
        """Move item ``seq`` out of the queue into ``rejected/`` (it can never be sent), logging why."""
        with self._lock:
            seg = self._items.get(seq)
            if seg is None:
                return None
            data = self._data(seg).get(seq, b"")
            self._forget(seq)
            self.rejected += 1
        dest = None
        try:
            folder = self._rejected_dir()
            dest = os.path.join(folder, "%020d%s" % (seq, _MSG))
            write_atomic(dest, data, makedirs=False, perms=_PERMS)
            old = sorted(f for f in os.listdir(folder) if f.endswith(_MSG))
            for name in old[:max(0, len(old) - MAX_REJECTED)]:
                _unlink(os.path.join(folder, name))
        except OSError as e:
            log.error("%s: message %d could not be kept aside either (%s)", self.path, seq, e.strerror or e)
            dest = None
        log.error("%s: message %d can never be sent (%s): set aside%s; the queue goes on", self.path, seq,
                  reason, " in %s" % dest if dest else "")
        return dest

    # -- end -------------------------------------------------------------------------------------
    def close(self):
        """Rewrite partly consumed segments (no duplicates after a clean restart), release the folder."""
        with self._lock:
            for seg in list(self._segs.values()):
                if seg.legacy or len(seg.live) == seg.size:
                    continue
                data = self._data(seg)
                keep = [(s, data[s]) for s in sorted(seg.live) if s in data]
                try:
                    self._write(seg.path, keep)
                    seg.size = len(seg.live)
                except OSError as e:  # then those acknowledged before come again: at-least-once
                    log.warning("%s: could not compact (%s)", seg.path, e.strerror or e)
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
    fd = os.open(os.path.join(path, ".lock"), os.O_WRONLY | os.O_CREAT | os.O_APPEND, _PERMS)
    f = os.fdopen(fd, "a")
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
