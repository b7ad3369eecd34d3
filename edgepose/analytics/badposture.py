"""Bad seated posture from a side view: neck and torso inclination held over thresholds.

Neck inclination is the shoulder->ear line against the vertical, torso inclination the hip->shoulder
line, both on the side of the body facing the camera (the side whose ear and shoulder are seen with
more confidence). Over either threshold for ``sustained_s`` (brief corrections shorter than
``gap_tolerance_s`` do not reset the clock) raises ``bad_posture``; below both for ``clear_s`` ends it.
"""
from dataclasses import dataclass
from typing import Optional

from ..topology import KP
from .config import BadPostureConfig
from .posture import inclination_deg

_SIDES = ((KP["r_ear"], KP["r_shoulder"], KP["r_hip"]), (KP["l_ear"], KP["l_shoulder"], KP["l_hip"]))


def side_angles(rows):
    """(neck_deg, torso_deg) on the better-seen side of keypoint rows, or (None, None)."""
    best, best_s = None, -1.0
    for ear, sh, hip in _SIDES:
        e, s, h = rows[ear], rows[sh], rows[hip]
        if e[0] != e[0] or s[0] != s[0] or h[0] != h[0]:
            continue
        score = e[2] + s[2] + h[2]
        if score > best_s:
            best, best_s = (e, s, h), score
    if best is None:
        return None, None
    e, s, h = best
    return inclination_deg(s, e), inclination_deg(h, s)


@dataclass
class BadPostureState:
    """One track's bad-posture state (``track.bad_posture_state``)."""

    over_since: Optional[float] = None
    last_over: Optional[float] = None
    active: bool = False
    worst_neck: float = 0.0
    worst_torso: float = 0.0
    neck: Optional[float] = None
    torso: Optional[float] = None


class BadPostureDetector(object):
    def __init__(self, config=None):
        self.cfg = config or BadPostureConfig()

    def update(self, track, t):
        """Returns a list of ('bad_posture', info) / ('bad_posture_end', info) signals."""
        cfg = self.cfg
        if not cfg.enabled:
            return []
        st = track.bad_posture_state
        if st is None:
            st = track.bad_posture_state = BadPostureState()
        f = track.features
        neck = torso = None
        if f is not None and (track.posture == "sitting" or not cfg.seated_only):
            neck, torso = side_angles(f.rows)
        over = neck is not None and (neck > cfg.neck_inclination_max_deg or torso > cfg.torso_inclination_max_deg)
        out = []
        if over:
            if st.over_since is None:
                st.over_since = t
                st.worst_neck = st.worst_torso = 0.0
            st.last_over = t
            st.worst_neck = max(st.worst_neck, neck)
            st.worst_torso = max(st.worst_torso, torso)
            st.neck, st.torso = neck, torso
        elif st.over_since is not None and not st.active and t - st.last_over > cfg.gap_tolerance_s:
            st.over_since = None
        if not st.active and st.over_since is not None and t - st.over_since >= cfg.sustained_s:
            st.active = True
            out.append(("bad_posture", {"start_t": st.over_since,
                                        "neck_deg": round(st.worst_neck, 1),
                                        "torso_deg": round(st.worst_torso, 1)}))
        elif st.active and t - st.last_over >= cfg.clear_s and not over:
            st.active = False
            st.over_since = None
            out.append(("bad_posture_end", {"corrected_t": st.last_over}))
        return out
