"""Factories shared by the tests (the one place for them: test modules never import each other)."""
import numpy as np

from edgepose.analytics.events import Event, EventChange


def event(id="e1", label="fall", source="cam", track_id=3, start_time=1.0, detected_time=2.0, score=0.8,
          severity="high", box=(100.0, 100.0, 200.0, 300.0), **fields):
    """An ``Event`` with plausible values; any field can be given."""
    return Event(id=id, label=label, source=source, track_id=track_id, start_time=start_time,
                 detected_time=detected_time, score=score, severity=severity,
                 box=None if box is None else list(box), **fields)


def change(kind="new", keypoints=None, **fields):
    """An ``EventChange`` of ``kind`` for ``event(**fields)``; ``before`` is a copy of it unless new.

    keypoints: (18, 3) for the snapshot overlay, or True for a standing figure with one keypoint missing.
    """
    after = event(**fields)
    if kind == "end" and after.end_time is None:
        after.end_time = after.detected_time + 1.0
    if keypoints is True:
        keypoints = np.array([[150.0, 120.0 + 10 * k, 0.9] for k in range(18)])
        keypoints[5] = (np.nan, np.nan, 0.0)
    return EventChange(kind, None if kind == "new" else after.copy(end_time=None), after, keypoints)


def parse_prometheus(text):
    """Minimal Prometheus text parser: {(name, frozenset(labels)): value}; checks HELP/TYPE order."""
    samples, typed = {}, set()
    for line in text.splitlines():
        if not line:
            continue
        if line.startswith("# HELP "):
            continue
        if line.startswith("# TYPE "):
            _, _, name, kind = line.split(" ")
            assert kind in ("gauge", "counter", "histogram", "summary", "untyped")
            typed.add(name)
            continue
        assert not line.startswith("#"), line
        head, value = line.rsplit(" ", 1)
        labels = {}
        if "{" in head:
            name, rest = head.split("{", 1)
            assert rest.endswith("}")
            for part in rest[:-1].split(","):
                k, v = part.split("=", 1)
                assert v.startswith('"') and v.endswith('"')
                labels[k] = v[1:-1]
        else:
            name = head
        assert name in typed, "sample before its TYPE line: %s" % line
        samples[(name, frozenset(labels.items()))] = float(value)
    return samples
