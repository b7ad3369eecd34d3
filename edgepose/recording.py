"""Pose recordings: one JSON object per line and frame (the seam with ``edgepose replay``).

``{"t": seconds, "frame": int, "source": str, "width": int, "height": int,
   "people": [{"score": float, "keypoints": [[x, y, s] x 18], "track_id"?: int}]}``

in source-image pixels, ``[null, null, 0]`` for a missing keypoint (``Person.to_json``). Reading
rejects (``RecordingError``, exit 2, "FILE:LINE: what") non-finite numbers (``t: Infinity``, ``NaN``,
``1e300``) and half-missing keypoints (``[1.0, null, 1.0]``). Lines are
flushed as they are written, so a recording cut short by a crash or power loss stays readable up to
its last complete line (``read_recording`` skips a truncated last line with a warning).
"""
import io
import json
import logging
import math
import os
from dataclasses import dataclass
from typing import Iterator, List, Optional

import numpy as np

from .errors import InputError
from .topology import NUM_KEYPOINTS
from .types import Person

log = logging.getLogger(__name__)


@dataclass
class RecordedFrame:
    t: float
    frame: int
    source: str
    width: int
    height: int
    people: List[Person]
    extra: Optional[dict] = None   # any other keys of the line (e.g. synth's "activity")


def record_line(t, frame, source, width, height, people):
    """The JSON text (no newline) of one frame."""
    obj = {"t": round(float(t), 6), "frame": int(frame), "source": str(source), "width": int(width),
           "height": int(height), "people": [p.to_json() for p in people]}
    return json.dumps(obj, separators=(",", ":"), allow_nan=False)


class RecordingWriter:
    """Append-only JSONL writer. ``write(result)`` takes a ``FrameResult``; ``write_frame`` the fields."""

    def __init__(self, path, append=False):
        self.path = os.fspath(path)
        parent = os.path.dirname(os.path.abspath(self.path))
        if not os.path.isdir(parent):
            raise InputError("%s: folder %s does not exist" % (self.path, parent))
        self._f = io.open(self.path, "a" if append else "w", encoding="utf-8", buffering=1)
        self.frames = 0

    def write_frame(self, t, frame, source, width, height, people):
        self._f.write(record_line(t, frame, source, width, height, people) + "\n")
        self.frames += 1

    def write(self, result):
        f = result.frame
        self.write_frame(f.t, f.index, f.source, f.width, f.height, result.people)

    def close(self, timeout=None):
        if not self._f.closed:
            self._f.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()


class RecordingError(InputError):
    """A recording line that cannot be replayed as it is (exit code 2: fix or cut the file)."""

    exit_code = 2


_MAX_COORD = 1e6   # pixels: anything beyond is not a keypoint of any camera's frame
_KNOWN = ("t", "frame", "source", "width", "height", "people")


def _number(v, what):
    if isinstance(v, bool) or not isinstance(v, (int, float)):
        raise ValueError("%s must be a number, got %s" % (what, json.dumps(v)))
    if not math.isfinite(v):
        raise ValueError("%s is %s: it must be a finite number" % (what, json.dumps(v)))
    return float(v)


def _keypoints(rows, p):
    if not isinstance(rows, list) or len(rows) != NUM_KEYPOINTS:
        raise ValueError("people[%d].keypoints must be a list of %d [x, y, s] triples" % (p, NUM_KEYPOINTS))
    out = []
    for k, r in enumerate(rows):
        what = "people[%d].keypoints[%d]" % (p, k)
        if not isinstance(r, list) or len(r) != 3:
            raise ValueError("%s must be [x, y, s], got %s" % (what, json.dumps(r)))
        if r[0] is None and r[1] is None:
            out.append((math.nan, math.nan, 0.0))  # missing
            continue
        if r[0] is None or r[1] is None:
            raise ValueError("%s is %s: x and y are both numbers, or both null for a missing keypoint"
                             % (what, json.dumps(r)))
        x, y = _number(r[0], what + " x"), _number(r[1], what + " y")
        if abs(x) > _MAX_COORD or abs(y) > _MAX_COORD:
            raise ValueError("%s is %s: coordinates are pixels of the frame (at most %g)"
                             % (what, json.dumps(r), _MAX_COORD))
        out.append((x, y, 0.0 if r[2] is None else _number(r[2], what + " score")))
    return out


def frame_from_json(obj):
    """A decoded recording line -> ``RecordedFrame``; ``ValueError`` naming the bad field.

    Rejects what would poison the analytics: non-finite or non-numeric values (``t: Infinity``,
    ``NaN``, ``1e300``), and half-missing keypoints (``[1.0, null, 1.0]``)."""
    if not isinstance(obj, dict):
        raise ValueError("a line must be a JSON object")
    missing = [k for k in ("t", "width", "height", "people") if k not in obj]
    if missing:
        raise ValueError("missing key(s) %s" % ", ".join(missing))
    t = _number(obj["t"], "t")
    size = []
    for key in ("width", "height"):
        v = obj[key]
        if isinstance(v, bool) or not isinstance(v, int) or not 0 < v <= _MAX_COORD:
            raise ValueError("%s must be a positive whole number of pixels, got %s" % (key, json.dumps(v)))
        size.append(v)
    frame = obj.get("frame", 0)
    if isinstance(frame, bool) or not isinstance(frame, int):
        raise ValueError("frame must be a whole number, got %s" % json.dumps(frame))
    people = obj["people"]
    if not isinstance(people, list):
        raise ValueError("people must be a list")
    out = []
    for p, person in enumerate(people):
        if not isinstance(person, dict):
            raise ValueError("people[%d] must be an object" % p)
        kps = _keypoints(person.get("keypoints"), p)
        score = _number(person.get("score", 0.0), "people[%d].score" % p)
        tid = person.get("track_id")
        if tid is not None and (isinstance(tid, bool) or not isinstance(tid, int)):
            raise ValueError("people[%d].track_id must be a whole number or null" % p)
        out.append(Person(np.array(kps, dtype=np.float32), score, tid))
    extra = {k: v for k, v in obj.items() if k not in _KNOWN} or None
    return RecordedFrame(t, frame, str(obj.get("source") or ""), size[0], size[1], out, extra)


def parse_line(text, where="recording"):
    """One JSONL line -> ``RecordedFrame``; ``RecordingError`` ("WHERE: what is wrong") when malformed."""
    try:
        return frame_from_json(json.loads(text))
    except (ValueError, TypeError) as e:  # json's errors are ValueErrors too
        raise RecordingError("%s: %s; expected a pose recording line {t, frame, source, width, height, people}"
                             % (where, e))


def read_recording(path) -> Iterator[RecordedFrame]:
    """Yield the frames of a recording in file order."""
    path = os.fspath(path)
    if not os.path.isfile(path):
        raise InputError("%s: recording not found" % path)
    with io.open(path, encoding="utf-8") as f:
        for i, line in enumerate(f, 1):
            if not line.strip():
                continue
            try:
                rec = parse_line(line, "%s:%d" % (path, i))
            except InputError:
                if not line.endswith("\n"):  # only the last line can lack its newline
                    log.warning("%s:%d: truncated last line skipped (recording cut short?)", path, i)
                    return
                raise
            yield rec
