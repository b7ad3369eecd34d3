"""Snapshots: a JPEG of the frame at a 'new' event, with the skeleton and box drawn.

Written in the loop's thread, before the other sinks see the change (``build_sinks`` puts this sink
first), so a 'new' change always names a snapshot that exists: encode (a few ms), write to a
temporary name, ``os.replace`` into place, then return the change with ``has_snapshot`` and
``snapshot`` set (``EventChange.with_snapshot``): the ``SinkSet`` hands that one to the next sinks.
Later changes of the same event carry the same path. Without a frame the change keeps
``has_snapshot: false``. The oldest files beyond ``keep_max`` are deleted.
"""
import logging
import os
import re
from collections import deque

import numpy as np

from .. import deps
from ..atomic import write_atomic
from ..draw import draw_people
from ..errors import SinkError
from ..types import Person
from .base import Sink

log = logging.getLogger(__name__)

_COLORS = {"fall": (0, 0, 255), "long_lie": (0, 0, 160), "bad_posture": (0, 200, 255)}


def _safe(text):
    return re.sub(r"[^A-Za-z0-9_.-]", "_", str(text))


class SnapshotSink(Sink):
    name = "snapshots"

    def __init__(self, config):
        deps.load("cv2", "sinks.snapshots")  # refused when the sinks are built, not at the first fall
        self.cfg = config
        self.dir = os.path.abspath(config.dir)
        try:
            os.makedirs(self.dir, mode=0o700, exist_ok=True)
        except OSError as e:
            raise SinkError("sinks.snapshots.dir %s: cannot create it (%s)" % (self.dir, e.strerror or e))
        existing = sorted(f for f in os.listdir(self.dir) if f.endswith(".jpg"))
        self._files = deque(os.path.join(self.dir, f) for f in existing)
        self._paths = {}  # event id -> snapshot path, for updates and ends
        self.written = 0
        self.failed = 0

    def handle(self, change, frame=None):
        """Write the snapshot of a 'new' change; returns the change with its snapshot path (None: no snapshot)."""
        eid = change.after.id
        if change.type == "new" and frame is not None:
            image = getattr(frame, "image", frame)
            try:
                path = self._write(image, change.after, change.keypoints)
            except Exception as e:  # no snapshot: the change says so (has_snapshot false)
                self.failed += 1
                log.warning("snapshot for %s not written: %s", eid, e)
                return None
            self._paths[eid] = path
        path = self._paths.get(eid)
        if change.type == "end":
            self._paths.pop(eid, None)
        return change.with_snapshot(path) if path is not None else None

    def _write(self, image, ev, kps):
        cv2 = deps.load("cv2", "sinks.snapshots")
        img = np.ascontiguousarray(image).copy()
        if self.cfg.draw:
            if kps is not None:
                draw_people(img, [Person(kps, 1.0)])
            box = ev.box
            if box:
                color = _COLORS.get(ev.label, (255, 255, 255))
                p0, p1 = (int(box[0]), int(box[1])), (int(box[2]), int(box[3]))
                cv2.rectangle(img, p0, p1, color, 2)
                cv2.putText(img, "%s %.2f" % (ev.label, ev.score or 0.0), (p0[0], max(12, p0[1] - 4)),
                            cv2.FONT_HERSHEY_SIMPLEX, 0.5, color, 1, cv2.LINE_AA)
        h, w = img.shape[:2]
        if w > self.cfg.max_width:
            s = self.cfg.max_width / float(w)
            img = cv2.resize(img, (self.cfg.max_width, max(1, int(round(h * s)))), interpolation=cv2.INTER_AREA)
        ok, buf = cv2.imencode(".jpg", img, [int(cv2.IMWRITE_JPEG_QUALITY), int(self.cfg.jpeg_quality)])
        if not ok:
            raise RuntimeError("JPEG encoding failed")
        name = "%s-%s-%s.jpg" % (_safe(ev.source), _safe(ev.label), _safe(ev.id or "event"))
        final = os.path.join(self.dir, name)
        write_atomic(final, buf.tobytes(), makedirs=False, perms=0o600)  # a picture of someone at home
        self.written += 1
        self._files.append(final)
        while len(self._files) > self.cfg.keep_max:
            old = self._files.popleft()
            try:
                os.unlink(old)
            except OSError:
                pass
        return final

    def stats(self):
        return {"sent": self.written, "failed": self.failed}

