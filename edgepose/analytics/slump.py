"""Person down without a fall: someone who comes down from standing and ends slumped, head hanging.

A slow slide down a wall (fainting, weakness) never looks like a fall: no fast drop, and the person
ends sitting, not lying. What gives it away is how they end up: head hanging forward (the nose at or
below the neck) from the moment they came down, where someone who sits down on a chair or on the floor
holds the head up, and from crouching or kneeling to look at something on the floor (the knees bent
double). A nose that was hanging and then hides (the face turned to the floor) counts as still hanging
while the eyes or ears are seen; eyes and ears alone never start a hang: seen from behind, someone
bending over has an ear at the neck's row.

Per track, the detector keeps the head's image row over the last ``slump_s + slump_descent_s``
seconds. The person "came down" when the head is now at least ``_SANK_BODY_HEIGHTS`` standing heights
below a reference row without standing tall: the row where they last stood tall if that is inside the
window (walking toward the camera moves the head down the image too, and "tall" allows for that),
else the highest row of the window. The event's start is that reference moment. If the head then
hangs (median offset over the last ``slump_s`` seconds at least ``slump_head_body_heights``) while
the person stays down low, it signals ``person_down``. Standing tall again for ``recover_s`` ends it.
The window, not the moment the person last stood tall, says when the descent began: someone walking
away from a camera at head height stops looking "tall" (the head row sinks) long before they slide
down a wall, and that must not use up the watch. Frames that the posture calls down by the body's
shape (it flickers so at the end of a slide) neither feed nor break the watch. Someone who sat down
upright and nods off minutes later is not a person down (the window has forgotten the standing head
by then); a fall in progress (a fall candidate) is the fall detector's to judge first. Being "down"
only against the source's ground model (``features.body_down`` false) does not stop the watch: a
slumped sitter with the head low over the hips looks like that.

``SlumpDetector.update`` returns ('person_down', info) / ('person_down_end', info) signals.
"""
from collections import deque
from dataclasses import dataclass, field
from typing import Deque, Optional

from .config import FallConfig
from .posture import _HEAD_ALT

_SANK_BODY_HEIGHTS = 0.2  # the head at least this much (standing heights) below where it was standing
_LOW_GAP_S = 0.5       # brief gaps in 'low' (a missed keypoint) are ignored
_SLUMP_TORSO_DEG = 50.0  # a slumped sitter's torso is within this of vertical
_SLUMP_KNEE_DEG = 110.0  # legs stretched out in front (not crouched or kneeling)


@dataclass
class SlumpState:
    """One track's slump state (``track.slump_state``)."""

    heads: Deque[tuple] = field(default_factory=deque)  # (t, head row): the recent window
    tall: Optional[tuple] = None           # (t, head row) when the person last stood tall
    low_seen: Optional[float] = None
    hang: Deque[tuple] = field(default_factory=deque)  # (t, nose below neck in standing heights)
    active: bool = False
    up_since: Optional[float] = None


class SlumpDetector(object):
    def __init__(self, config=None):
        self.cfg = config or FallConfig()

    def update(self, track, t):
        cfg = self.cfg
        st = track.slump_state
        if st is None:
            st = track.slump_state = SlumpState()
        f = track.features
        if f is None:
            return []
        out = []
        ref = track.posture_state.ref_h if track.posture_state is not None else None
        heads = st.heads
        if f.head_y is not None:
            heads.append((t, f.head_y))
        while heads and t - heads[0][0] > cfg.slump_s + cfg.slump_descent_s:
            heads.popleft()
        if f.tall:
            if f.head_y is not None:
                st.tall = (t, f.head_y)
            st.up_since = t if st.up_since is None else st.up_since
            if st.active and t - st.up_since >= cfg.recover_s:
                st.active = False
                out.append(("person_down_end", {"up_t": st.up_since}))
            if not st.active:
                st.hang.clear()
            return out
        st.up_since = None
        # came down: the head well below its highest row of the window; slumped: torso not lying
        # (lying is the fall detector's), legs stretched out (crouching or kneeling to look at
        # something on the floor also hangs the head)
        if st.tall is not None and t - st.tall[0] <= cfg.slump_s + cfg.slump_descent_s:
            top = st.tall
        else:
            top = min(heads, key=lambda h: h[1]) if heads else None
        sank = (f.head_y is not None and top is not None and ref
                and (f.head_y - top[1]) / ref >= _SANK_BODY_HEIGHTS)
        slumped = sank and f.torso_deg <= _SLUMP_TORSO_DEG and (f.knee_deg is None or f.knee_deg >= _SLUMP_KNEE_DEG)
        if slumped and not f.body_down:
            st.low_seen = t
        elif not slumped and (st.low_seen is None or t - st.low_seen > _LOW_GAP_S):
            st.hang.clear()  # not low: watch afresh
            return out
        # a slumped shape that the posture also calls down by the body (it flickers so at the end of
        # a slide) neither refreshes nor breaks the watch; the alert needs a recent plain slumped frame
        if f.head_hang is not None:
            st.hang.append((t, f.head_hang))
        elif st.hang and st.hang[-1][1] >= cfg.slump_head_body_heights and _head_seen(f):
            # the nose was hanging and is now hidden (the face turned to the floor) while the rest of
            # the head is still seen: it still hangs. A nose never seen (someone seen from behind) adds nothing.
            st.hang.append((t, st.hang[-1][1]))
        while st.hang and t - st.hang[0][0] > cfg.slump_s:
            st.hang.popleft()
        if st.active or st.low_seen is None or t - st.low_seen > _LOW_GAP_S:
            return out
        fs = track.fall_state
        if fs is not None and fs.phase == "candidate":
            return out  # a fall in progress is the fall detector's to judge first
        span = st.hang[-1][0] - st.hang[0][0] if st.hang else 0.0
        if span < 0.8 * cfg.slump_s:
            return out
        values = sorted(h for _, h in st.hang)
        median = values[len(values) // 2]
        if median >= cfg.slump_head_body_heights:
            st.active = True
            start = top[0] if top is not None else t
            out.append(("person_down", {"start_t": start, "head_hang_body_heights": round(median, 3)}))
        return out


def _head_seen(f):
    rows = f.rows
    return rows is not None and any(rows[i][0] == rows[i][0] for i in _HEAD_ALT)
