"""Fall detection per track: a rapid, uncontrolled drop to the floor, confirmed by staying down.

A fall is judged once, at the moment the body first counts as down (``features.down``: torso near
horizontal with the hips low, or the head near the floor line, or a strongly foreshortened torso
with the head low - the last two catch falls toward and away from the camera). It is a fall
candidate when, within ``fall_window_s`` before that moment, the person was upright (standing or
seated) and the head dropped by at least ``drop_body_heights``. What decides is the descent, not the
end state (someone lying on the floor on purpose looks the same as someone who fell):

- straight from standing: the person stood tall less than ``fall_window_s`` before the impact, and
  the head's peak downward speed reached ``velocity_body_heights_per_s`` (or the torso turned toward
  horizontal at ``torso_rotation_deg_per_s``), or at least ``slump_velocity_body_heights_per_s``
  with a hard impact (speed after the peak below ``hard_impact_stop_ratio`` of it: a collapse seen
  along the camera axis, where perspective hides most of the head's drop). A body that came down
  onto folded legs (``features.folded`` under a torso still seen at ``_CROUCH_TORSO_RATIO`` or more of
  its standing length: crouching, squatting, kneeling; a body lying toward the camera foreshortens
  legs and torso alike and is not a crouch) is a fall only with an impact (below
  ``impact_stop_ratio``), a drop at ``fast_velocity_body_heights_per_s`` or that torso rotation: crouching down fast looks like a fall in every other way;
- from a lower posture (seated, kneeling, sitting on the floor, crouched) or after a slow descent
  from standing (pausing on the way, as people who lie down on purpose do): only a drop at
  ``seated_velocity_body_heights_per_s`` that ends abruptly (an impact: the head's speed falls below
  ``impact_stop_ratio`` of its peak within a third of a second) is a fall; a controlled lie-down
  slows before the floor. A drop at ``fast_velocity_body_heights_per_s`` (toppling off a chair and
  rolling on) is a fall without the impact test: nothing done on purpose comes down that fast.

The candidate is confirmed after ``fall_confirm_s`` of staying down; recovery (upright for
``recover_s``) ends it; ``long_lie_s`` after the impact raises a long lie.

Speeds are measured over at least ``_SPEED_WINDOW_S`` of real time, so jitter and frame rate do not
change them. ``FallDetector.update`` returns signals for the analyzer: ('fall', info),
('long_lie', info), ('recovered', info).
"""
from collections import deque
from dataclasses import dataclass, field
from typing import Any, Deque, Dict, NamedTuple, Optional

from .config import FallConfig

_SPEED_WINDOW_S = 0.15
_CANDIDATE_GIVE_UP_S = 0.7   # up again this long before confirmation: it was not a fall
_CONFIRM_DOWN_FRACTION = 0.7  # share of the confirmation time the body must count as down
_TALL_MIN_S, _TALL_GAP_S = 0.6, 0.6  # standing tall counts once it lasts this long (brief gaps ignored)
_STOP_WINDOW_S = (0.15, 0.35)  # where, after the peak speed, an impact has stopped the head
_CROUCH_TORSO_RATIO = 0.45  # a crouch keeps its torso at least this share of the standing length in the image


class Sample(NamedTuple):
    """One frame of a track's recent history, as the fall detector keeps it."""

    t: float
    head_y: float      # pixels
    down: bool
    upright: bool
    v: float           # downward head speed, standing heights / s
    ref: float         # standing height, pixels
    torso_deg: float
    w: float           # torso rotation toward horizontal, degrees / s
    folded: bool       # legs folded under a full-length torso (crouch-like)


@dataclass
class FallState:
    """One track's fall state (``track.fall_state``), advanced by ``FallDetector.update``.

    phase: idle -> candidate (went down after being upright) -> active (a confirmed fall) or
    deliberate (down, but not a fall: lying down, or inside an excluded zone); back to idle when up.
    hist: recent ``Sample``s. tall_t: when the person last stood tall (upright, head high, legs
    straight): the descent is measured from there.
    """

    since: float
    last_t: float
    hist: Deque[tuple] = field(default_factory=deque)
    phase: str = "idle"
    prev_down: bool = False
    down_time: float = 0.0
    up_since: Optional[float] = None
    last_down_t: Optional[float] = None
    long_lie: bool = False
    impact_t: Optional[float] = None
    up_t: Optional[float] = None
    up_head: Optional[float] = None
    peak_w: float = 0.0
    tall_t: Optional[float] = None
    tall_from: Optional[float] = None
    tall_seen: Optional[float] = None
    info: Dict[str, Any] = field(default_factory=dict)

    def update(self, **fields):
        for k, v in fields.items():
            if not hasattr(self, k):
                raise AttributeError("FallState has no field %r" % k)
            setattr(self, k, v)


class FallDetector(object):
    def __init__(self, config=None):
        self.cfg = config or FallConfig()

    def update(self, track, t):
        """Advance ``track``'s fall state to time ``t``; returns a list of (signal, info) tuples."""
        cfg = self.cfg
        st = track.fall_state
        if st is None:
            st = track.fall_state = FallState(since=t, last_t=t)
        f = track.features
        ref = track.posture_state.ref_h if track.posture_state is not None else None
        out = []
        dt = max(t - st.last_t, 0.0)
        st.last_t = t
        if f is None or ref is None or ref <= 0:
            return out
        hist = st.hist
        head_y = f.head_y if f.head_y is not None else f.neck[1] - 0.12 * ref
        # downward speed in standing heights / s over at least _SPEED_WINDOW_S
        v = 0.0
        j = None
        for k in range(len(hist) - 1, -1, -1):
            if t - hist[k].t >= _SPEED_WINDOW_S:
                j = hist[k]
                break
        if j is None and hist:
            j = hist[0]
        w = 0.0
        if j is not None and t > j.t:
            v = (head_y - j.head_y) / (t - j.t) / ref
            if f.torso_ratio is None or f.torso_ratio >= 0.35:  # a foreshortened torso's angle is noise
                w = (f.torso_deg - j.torso_deg) / (t - j.t)
        down, upright = bool(f.down), bool(f.upright)
        if f.tall:  # standing tall, in a stretch of at least _TALL_MIN_S (gaps under _TALL_GAP_S ignored)
            if st.tall_seen is None or t - st.tall_seen > _TALL_GAP_S:
                st.tall_from = t
            st.tall_seen = t
            if t - st.tall_from >= _TALL_MIN_S:
                st.tall_t = t
        # crouch-like: legs folded under a torso still seen at (nearly) full length; a body lying toward
        # the camera foreshortens legs and torso alike
        crouchlike = bool(f.folded) and (f.torso_ratio is None or f.torso_ratio >= _CROUCH_TORSO_RATIO)
        hist.append(Sample(t, head_y, down, upright, v, ref, f.torso_deg, w, crouchlike))
        keep = cfg.fall_window_s + cfg.fall_confirm_s + 2 * _SPEED_WINDOW_S + 0.5
        while hist and t - hist[0].t > keep:
            hist.popleft()
        phase = st.phase
        if down:
            st.last_down_t = t
        if phase == "idle":
            if down and not st.prev_down:
                up_k = self._last_upright(hist, t)
                if up_k is None:
                    st.update(phase="deliberate", up_since=None)
                else:
                    # the head's highest upright position in the window: where the fall started from
                    up_head = min(h.head_y for h in hist if h.upright and t - h.t <= cfg.fall_window_s)
                    st.update(phase="candidate", impact_t=t, up_t=hist[up_k].t, up_head=up_head,
                              down_time=0.0, up_since=None)
        elif phase == "candidate":
            if down:
                st.down_time += dt
                st.up_since = None
            elif st.up_since is None:
                st.up_since = t
            if st.up_since is not None and t - st.up_since >= _CANDIDATE_GIVE_UP_S:
                st.phase = "idle"
            elif t - st.impact_t >= cfg.fall_confirm_s:
                span = max(t - st.impact_t, 1e-6)
                info = None
                if st.down_time >= _CONFIRM_DOWN_FRACTION * span - 1e-6 or cfg.fall_confirm_s == 0:
                    info = self._judge(hist, st, t, ref)
                if info is not None:
                    st.update(phase="active", up_since=None, long_lie=False, info=info)
                    out.append(("fall", dict(info, confirm_t=t)))
                else:
                    st.update(phase="deliberate", up_since=None)
        elif phase in ("active", "deliberate"):
            if upright:
                if st.up_since is None:
                    st.up_since = t
            elif down:
                st.up_since = None
            if st.up_since is not None and t - st.up_since >= cfg.recover_s:
                if phase == "active":
                    out.append(("recovered", {"up_t": st.up_since}))
                st.update(phase="idle", up_since=None)
            elif (phase == "active" and not st.long_lie and t - st.impact_t >= cfg.long_lie_s
                  and st.last_down_t is not None and t - st.last_down_t < cfg.recover_s):
                st.long_lie = True
                out.append(("long_lie", dict(st.info, long_lie_t=t)))
        st.prev_down = down
        return out

    def _last_upright(self, hist, t):
        """Index of the last upright sample within fall_window_s before now, or None."""
        for k in range(len(hist) - 2, -1, -1):
            if t - hist[k].t > self.cfg.fall_window_s:
                return None
            if hist[k].upright:
                return k
        return None

    def _judge(self, hist, st, t, ref):
        """Was the way down (upright at st.up_t, down at st.impact_t) a fall? info or None."""
        cfg = self.cfg
        recent = sorted(h.head_y for h in hist if t - h.t <= 0.3)
        head_now = recent[len(recent) // 2]
        drop = (head_now - st.up_head) / ref
        if drop < cfg.drop_body_heights:
            return None
        peak_k, peak_v, peak_w = None, 0.0, 0.0
        for k in range(len(hist)):
            if hist[k].t < st.impact_t - cfg.fall_window_s:
                continue
            if hist[k].v > peak_v:
                peak_k, peak_v = k, hist[k].v
            peak_w = max(peak_w, abs(hist[k].w))
        st.peak_w = peak_w
        if peak_k is None:
            return None
        direct = st.tall_t is not None and st.impact_t - st.tall_t <= cfg.fall_window_s
        stop = self._stop_ratio(hist, peak_k)
        hit = stop is not None and stop <= cfg.impact_stop_ratio
        if direct:
            if peak_v < cfg.velocity_body_heights_per_s and peak_w < cfg.torso_rotation_deg_per_s:
                if not (peak_v >= cfg.slump_velocity_body_heights_per_s and stop is not None
                        and stop <= cfg.hard_impact_stop_ratio):
                    return None
            after = [h.folded for h in hist if h.t >= st.impact_t]
            if (sum(after) > 0.5 * len(after) and not hit and peak_v < cfg.fast_velocity_body_heights_per_s
                    and peak_w < cfg.torso_rotation_deg_per_s):
                return None  # came down onto folded legs, no impact: crouching, not falling
        elif peak_v < cfg.fast_velocity_body_heights_per_s:
            # from a lower posture, or a slow way down: only a fast drop that ends in an impact
            if peak_v < cfg.seated_velocity_body_heights_per_s or not hit:
                return None
        # the motion began where the downward speed first rose above the start threshold
        k = peak_k
        while k > 0 and hist[k - 1].v >= cfg.motion_start_body_heights_per_s:
            k -= 1
        start_t = max(hist[k].t - _SPEED_WINDOW_S, hist[0].t)
        return {"start_t": start_t, "impact_t": st.impact_t, "speed_body_heights_per_s": round(peak_v, 3),
                "torso_rotation_deg_per_s": round(peak_w, 1),
                "drop_body_heights": round(drop, 3), "from_standing": direct}

    @staticmethod
    def _stop_ratio(hist, peak_k):
        """Mean downward head speed shortly after the peak (``_STOP_WINDOW_S``) over the peak speed,
        or None when the history does not reach that far."""
        t0, peak = hist[peak_k].t, hist[peak_k].v
        after = [h.v for h in list(hist)[peak_k + 1:] if _STOP_WINDOW_S[0] <= h.t - t0 <= _STOP_WINDOW_S[1]]
        if not after or peak <= 0:
            return None
        return max(0.0, sum(after) / len(after)) / peak
