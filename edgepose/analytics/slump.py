"""Person down without a fall: someone who comes down from standing and ends slumped, head hanging.

A slow slide down a wall (fainting, weakness) never looks like a fall: no fast drop, and the person
ends sitting, not lying. What gives it away is how they end up: head hanging forward (the nose at or
below the neck) from the moment they came down, where someone who sits down on a chair or on the floor
holds the head up, and from crouching or kneeling to look at something on the floor (the knees
bent double). Per track: when the person leaves standing tall (``features.tall``) the detector
starts watching; if, within ``slump_descent_s`` of that, the head hangs (median nose-below-neck
offset over the last ``slump_s`` seconds at least ``slump_head_body_heights``) while the person stays
down low, it signals ``person_down``. Standing tall again for ``recover_s`` ends it. Someone who sat
down upright and nods off minutes later is not a person down (that is what the arrival window is
for); a fall in progress (a fall candidate) is the fall detector's to judge first. Being "down" only
against the source's ground model (``features.body_down`` false) does not stop the watch: a slumped
sitter with the head low over the hips looks like that.

``SlumpDetector.update`` returns ('person_down', info) / ('person_down_end', info) signals.
"""
from collections import deque
from dataclasses import dataclass, field
from typing import Deque, Optional

from .config import FallConfig

_SANK_BODY_HEIGHTS = 0.2  # the head at least this much (standing heights) below where it was standing
_LOW_GAP_S = 0.5       # brief gaps in 'low' (a missed keypoint) are ignored
_SLUMP_TORSO_DEG = 50.0  # a slumped sitter's torso is within this of vertical
_SLUMP_KNEE_DEG = 110.0  # legs stretched out in front (not crouched or kneeling)


@dataclass
class SlumpState:
    """One track's slump state (``track.slump_state``)."""

    left_tall_t: Optional[float] = None   # when the person last stopped standing tall
    tall_head: Optional[float] = None     # the head's image row then
    low_seen: Optional[float] = None
    hang: Deque[tuple] = field(default_factory=deque)  # (t, nose below neck in standing heights)
    active: bool = False
    decided: bool = False                  # judged (either way) since the person left standing tall
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
        if f.tall:
            if f.head_y is not None:
                st.tall_head = f.head_y
            st.up_since = t if st.up_since is None else st.up_since
            if st.active and t - st.up_since >= cfg.recover_s:
                st.active = False
                out.append(("person_down_end", {"up_t": st.up_since}))
            if not st.active:
                st.left_tall_t, st.decided = None, False
                st.hang.clear()
            return out
        st.up_since = None
        if st.left_tall_t is None:
            st.left_tall_t = t
        # slumped: hips lowered, torso not lying (lying is the fall detector's), legs stretched out
        # (crouching or kneeling to look at something on the floor also hangs the head)
        sank = (f.head_y is not None and st.tall_head is not None and ref
                and (f.head_y - st.tall_head) / ref >= _SANK_BODY_HEIGHTS)
        low = (not f.body_down and sank and f.torso_deg <= _SLUMP_TORSO_DEG
               and (f.knee_deg is None or f.knee_deg >= _SLUMP_KNEE_DEG))
        if low:
            st.low_seen = t
        elif st.low_seen is None or t - st.low_seen > _LOW_GAP_S:
            st.hang.clear()  # up again (not tall, but not low either): watch afresh
            return out
        if f.head_hang is not None:
            st.hang.append((t, f.head_hang))
        while st.hang and t - st.hang[0][0] > cfg.slump_s:
            st.hang.popleft()
        if st.active or st.decided or t - st.left_tall_t < cfg.slump_s:
            return out
        fs = track.fall_state
        if fs is not None and fs.phase == "candidate":
            return out  # a fall in progress is the fall detector's to judge first
        if t - st.left_tall_t > cfg.slump_s + cfg.slump_descent_s:
            st.decided = True  # came down a while ago and did not end slumped: sitting, not a person down
            return out
        span = st.hang[-1][0] - st.hang[0][0] if st.hang else 0.0
        if span < 0.8 * cfg.slump_s:
            return out
        values = sorted(h for _, h in st.hang)
        median = values[len(values) // 2]
        if median >= cfg.slump_head_body_heights:
            st.active = st.decided = True
            out.append(("person_down", {"start_t": st.left_tall_t, "head_hang_body_heights": round(median, 3)}))
        return out
