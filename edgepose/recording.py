"""Pose recordings: one JSON object per line and frame (the seam with ``edgepose replay``).

``{"t": seconds, "frame": int, "source": str, "width": int, "height": int,
   "people": [{"score": float, "keypoints": [[x, y, s] x 18], "track_id"?: int}]}``

in source-image pixels, ``[null, null, 0]`` for a missing keypoint (``Person.to_json``). Lines are
flushed as they are written, so a recording cut short by a crash or power loss stays readable up to
its last complete line (``read_recording`` skips a truncated last line with a warning).
"""
import io
import json
import logging
import os
from dataclasses import dataclass
from typing import Iterator, List, Optional

from .errors import InputError
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


def parse_line(text, where="recording"):
    """One JSONL line -> ``RecordedFrame`` (``InputError`` naming ``where`` when malformed)."""
    try:
        obj = json.loads(text)
        people = [Person.from_json(p) for p in obj["people"]]
        known = ("t", "frame", "source", "width", "height", "people")
        extra = {k: v for k, v in obj.items() if k not in known} or None
        return RecordedFrame(float(obj["t"]), int(obj["frame"]), str(obj.get("source", "")),
                             int(obj["width"]), int(obj["height"]), people, extra)
    except InputError as e:
        raise InputError("%s: %s" % (where, e))
    except (ValueError, KeyError, TypeError) as e:
        raise InputError("%s: not a pose recording line (%s: %s); expected keys t, frame, source, width, height, "
                         "people" % (where, type(e).__name__, e))


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
