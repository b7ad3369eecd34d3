"""Body geometry per frame and posture per track (standing / sitting / lying / unknown).

Everything is relative to the person: heights are fractions of the person's standing height
(``ref_height``, estimated from limb lengths and remembered, since a lying or foreshortened body
looks shorter), heights above the floor are measured from where the person's feet were while
standing tall (``floor_y``), angles are from the image vertical. Standing tall (``features.tall``)
needs no floor line: upright, legs straight, and the head not sunk below its standing row by more
than coming closer to the camera explains (see ``PostureEstimator._tall``), so neither a slow slide
nor legs stretched toward a raised camera can drag the floor line along. A crouch (torso upright and
full length over folded legs) is never down. A body falling toward or away from the
camera keeps its image box shape but its head still ends up near (or below) the floor line and its
torso shortens; those cues catch what an aspect-ratio test misses. With the source's ground model
(``ground.py``: how tall a standing person looks at each foot row) two more features compare the body
with a standing person at the same spot: ``sink`` (how far the head is below a standing head for the
feet's row) and ``head_over_hip`` (the head's height above the hips' row, against a standing person
there); together they catch lying with the feet toward a raised camera, which looks like sitting on
the floor to every per-body cue. ``body_down`` says the body counted as down by its own shape, not
only against the ground model (a slumped sitter can look like that; see slump.py).
"""
import math
from dataclasses import dataclass, field
from typing import List, Optional

from ..topology import KP
from .config import PostureConfig

POSTURES = ("standing", "sitting", "lying", "unknown")

_N, _NECK = KP["nose"], KP["neck"]
_RS, _LS, _RH, _LH = KP["r_shoulder"], KP["l_shoulder"], KP["r_hip"], KP["l_hip"]
_RK, _LK, _RA, _LA = KP["r_knee"], KP["l_knee"], KP["r_ankle"], KP["l_ankle"]
_HEAD_ALT = (KP["r_eye"], KP["l_eye"], KP["r_ear"], KP["l_ear"])

# Segment lengths as fractions of standing height (anthropometric averages; only ratios matter).
_P_TORSO, _P_THIGH, _P_SHIN, _P_HEAD = 0.30, 0.245, 0.245, 0.11
_REF_DECAY_S = 20.0  # the remembered height forgets a too-large value with this time constant
_FLOOR_TAU_S = 0.3
_REF_TAU_S = 1.0  # the remembered height follows a standing person with this time constant
# the floor line is learned from the ankles only while the legs are nearly straight and seen at full
# length (feet under the body): legs stretched toward the camera on the floor would drag it down
_FLOOR_KNEE_DEG = 140.0
# standing tall (``features.tall``): torso near vertical, legs nearly straight and seen at least
# this share of their length (sitting with the legs toward the camera shortens them)
_TALL_TORSO_DEG, _TALL_LEG = 20.0, 0.8
# coming closer to a raised camera lowers the head in the image by up to this x the torso's relative
# growth (standing heights); a slide down a wall lowers it without growth
_TALL_WALK = 2.0
_REANCHOR = 0.05  # receding this much (standing heights) moves the standing reference to where the person is
_TILTED_HEAD_OVER_HIP = 0.4  # ground cue with a tilted torso: the head may sit this high over the hips
# crouched: the torso at least this share of its standing length; folded legs: hip to ankle at most
# this share of a standing leg (or the knee bent to posture.crouch_knee_deg)
_CROUCH_RATIO, _CROUCH_LEG = 0.65, 0.65
_SCALE_RANGE = (0.75, 1.3)  # a person's standing span against the ground model's (people differ in height)


def _pt(rows, i):
    r = rows[i]
    x = r[0]
    if x != x:
        return None
    return (x, r[1])


def _mid(a, b):
    if a is None:
        return b
    if b is None:
        return a
    return ((a[0] + b[0]) * 0.5, (a[1] + b[1]) * 0.5)


def _dist(a, b):
    return math.hypot(a[0] - b[0], a[1] - b[1])


def inclination_deg(lower, upper):
    """Angle of the vector lower->upper from 'straight up' in the image: 0 upright, 90 level, 180 down."""
    dx = upper[0] - lower[0]
    dy = lower[1] - upper[1]
    return math.degrees(math.atan2(abs(dx), dy))


def _knee_angle(hip, knee, ankle):
    if hip is None or knee is None or ankle is None:
        return None
    ax, ay = hip[0] - knee[0], hip[1] - knee[1]
    bx, by = ankle[0] - knee[0], ankle[1] - knee[1]
    na, nb = math.hypot(ax, ay), math.hypot(bx, by)
    if na < 1e-6 or nb < 1e-6:
        return None
    c = max(-1.0, min(1.0, (ax * bx + ay * by) / (na * nb)))
    return math.degrees(math.acos(c))


def _folded(f, knee_deg):
    """Legs folded: knee bent to ``knee_deg`` or more, or hip to ankle short in the image (crouching,
    squatting, kneeling - or landing on the knees)."""
    return ((f.knee_deg is not None and f.knee_deg <= knee_deg)
            or (f.leg_ratio is not None and f.leg_ratio <= _CROUCH_LEG))


class BodyFeatures(object):
    """Geometry of one skeleton; the ``*_rel`` fields are filled by :class:`PostureEstimator`."""

    __slots__ = ("neck", "hip", "head_y", "torso_deg", "torso_len", "knee_deg", "height_est",
                 "ankle_y", "conf", "head_rel", "hip_rel", "hip_drop", "torso_ratio", "down", "upright", "tall",
                 "head_hang", "leg_len", "leg_ratio", "folded", "rows", "stand_span", "sink", "head_over_hip", "leg_deg",
                 "body_down")

    def __init__(self):
        for s in self.__slots__:
            setattr(self, s, None)


def body_features(kps):
    """Features of (18, 3) keypoints (array or rows), or None without a neck (or shoulders) and a hip."""
    rows = kps if isinstance(kps, list) else kps.tolist()
    neck = _pt(rows, _NECK)
    if neck is None:
        rs, ls = _pt(rows, _RS), _pt(rows, _LS)
        if rs is not None and ls is not None:
            neck = _mid(rs, ls)
    rh, lh = _pt(rows, _RH), _pt(rows, _LH)
    hip = _mid(rh, lh)
    if neck is None or hip is None:
        return None
    f = BodyFeatures()
    f.rows = rows
    f.neck, f.hip = neck, hip
    f.torso_len = _dist(neck, hip)
    f.torso_deg = inclination_deg(hip, neck)
    rk, lk, ra, la = _pt(rows, _RK), _pt(rows, _LK), _pt(rows, _RA), _pt(rows, _LA)
    angles = [a for a in (_knee_angle(rh, rk, ra), _knee_angle(lh, lk, la)) if a is not None]
    f.knee_deg = min(angles) if angles else None
    nose = _pt(rows, _N)
    if nose is not None:
        f.head_y = nose[1]
        f.head_hang = nose[1] - neck[1]  # pixels; > 0: the nose hangs below the neck
    else:
        ys = [rows[i][1] for i in _HEAD_ALT if rows[i][0] == rows[i][0]]
        f.head_y = sum(ys) / len(ys) if ys else None
    # standing height from whatever segments are visible
    num, den = f.torso_len, _P_TORSO
    thighs = [_dist(h, k) for h, k in ((rh, rk), (lh, lk)) if h is not None and k is not None]
    if thighs:
        num += max(thighs)
        den += _P_THIGH
    shins = [_dist(k, a) for k, a in ((rk, ra), (lk, la)) if k is not None and a is not None]
    if shins:
        num += max(shins)
        den += _P_SHIN
    if nose is not None:
        num += _dist(nose, neck)
        den += _P_HEAD
    f.height_est = num / den
    legs = [_dist(h, a) for h, a in ((rh, ra), (lh, la)) if h is not None and a is not None]
    f.leg_len = max(legs) if legs else None  # hip to ankle, pixels
    ankle = _mid(ra, la)
    if ankle is not None:
        f.leg_deg = inclination_deg(ankle, hip)  # feet to hips against the vertical
    ankles = [a[1] for a in (ra, la) if a is not None]
    f.ankle_y = max(ankles) if ankles else None
    scores = [rows[i][2] for i in (_NECK, _RH, _LH, _RK, _LK, _RA, _LA, _N)]
    f.conf = sum(scores) / len(scores)
    return f


@dataclass
class PostureState:
    """One track's posture state (``track.posture_state``): the standing-height, torso-length and
    floor references, and the posture candidate waiting out the hysteresis."""

    t: float
    cand_t: float
    ref_h: Optional[float] = None
    ref_standing: bool = False
    ref_torso: Optional[float] = None
    floor_y: Optional[float] = None
    cand: str = "unknown"
    stand_head: Optional[float] = None  # the head's image row while standing tall
    stand_torso: Optional[float] = None  # ... and the torso's length in the image
    stand_ankle: Optional[float] = None  # ... and the feet's row
    hip_up: Optional[float] = None      # hip height (in standing heights above the floor) when standing
    down: bool = False                  # the body counted as down on the last frame
    len_hist: List[tuple] = field(default_factory=list)  # recent (t, torso length)
    body_down: bool = False             # down by the body's shape (see features.body_down)
    ground_scale: float = 1.0           # this person's standing span over the source's ground model


class PostureEstimator(object):
    """Per-track posture with hysteresis; also maintains the track's height and floor references.

    ``update(track, t)`` sets ``track.features`` (BodyFeatures or None), ``track.posture`` and
    ``track.posture_confidence``. ``features.down`` is the raw, per-frame 'on the floor' cue the fall
    detector uses; ``features.upright`` is 'standing or seated upright'.
    """

    def __init__(self, config=None):
        self.cfg = config or PostureConfig()

    def update(self, track, t, ground=None):
        cfg = self.cfg
        st = track.posture_state
        if st is None:
            st = track.posture_state = PostureState(t=t, cand_t=t)
        f = body_features(track.rows if hasattr(track, "rows") else track.keypoints)
        track.features = f
        dt = max(t - st.t, 0.0)
        st.t = t
        if f is None:
            raw, conf = "unknown", 0.0
        else:
            decay = math.exp(-dt / _REF_DECAY_S)
            a = 1.0 - math.exp(-dt / _REF_TAU_S)
            tall = self._standing_tall(f, st, t)
            ref = st.ref_h
            if ref is None:
                ref = f.height_est
            elif tall:
                ref += a * (f.height_est - ref)  # standing: follow the person's size (walking in depth)
            elif not st.ref_standing:
                ref = max(f.height_est, ref * decay)  # never seen standing: the largest recent estimate
            st.ref_h = ref
            rt = st.ref_torso
            if rt is None:
                rt = f.torso_len
            elif tall:
                rt += a * (f.torso_len - rt)
            elif not st.ref_standing and f.torso_deg <= cfg.upright_torso_deg:
                rt = max(f.torso_len, rt * decay)
            st.ref_torso = rt
            if tall:
                st.ref_standing = True
            floor = st.floor_y
            if floor is not None and ref > 0:
                if f.head_y is not None:
                    f.head_rel = (floor - f.head_y) / ref
                f.hip_rel = (floor - f.hip[1]) / ref
            if st.ref_torso:
                f.torso_ratio = f.torso_len / st.ref_torso
            if ground is not None and ground.ready:
                self._ground_features(f, st, ground)
            if f.hip_rel is not None:
                if tall:
                    hu = st.hip_up
                    st.hip_up = f.hip_rel if hu is None else hu + (1.0 - math.exp(-dt / _REF_TAU_S)) * (f.hip_rel - hu)
                if st.hip_up is not None:
                    f.hip_drop = st.hip_up - f.hip_rel
            if f.leg_len is not None and ref > 0:  # the legs' length in the image over a standing leg's (about 1 standing)
                f.leg_ratio = f.leg_len / ((_P_THIGH + _P_SHIN) * ref)
            f.folded = _folded(f, cfg.crouch_knee_deg)
            # crouching upright (torso within crouch_torso_deg of vertical, full length) is never down,
            # however low the head: people crouch to look at something on the floor
            crouched = (f.folded and f.torso_deg <= cfg.crouch_torso_deg and f.torso_ratio is not None
                        and f.torso_ratio >= _CROUCH_RATIO)
            cue = None if crouched else self._is_down(f)
            f.down = cue is not None or (not crouched and st.down and self._still_down(f))
            # down by the body's own shape (not only against the ground model); sticks while down
            f.body_down = f.down and (cue == "body" or (cue is None and st.body_down))
            st.body_down = f.body_down
            st.down = f.down
            f.upright = (not f.down) and f.torso_deg <= cfg.upright_torso_deg and (
                f.head_rel is None or f.head_rel > 0.5) and (f.torso_ratio is None or f.torso_ratio >= 0.6)
            f.tall = self._tall(f, st, ref, dt, cfg.standing_sink_body_heights)
            if f.tall and ground is not None and ground.ready and f.ankle_y is not None and f.head_y is not None:
                span = ground.span(f.ankle_y)  # this person's height against the source's standing span
                if span == span and f.ankle_y - f.head_y > 0:
                    k = min(max((f.ankle_y - f.head_y) / span, _SCALE_RANGE[0]), _SCALE_RANGE[1])
                    st.ground_scale += a * (k - st.ground_scale)
            if f.head_hang is not None:
                f.head_hang = f.head_hang / ref if ref > 0 else None
            if f.ankle_y is not None and f.tall:
                a = 1.0 - math.exp(-dt / _FLOOR_TAU_S) if floor is not None else 1.0
                st.floor_y = f.ankle_y if floor is None else floor + a * (f.ankle_y - floor)
            raw, conf = self._classify(f)
        if conf < cfg.min_confidence:
            raw = "unknown"
        if raw != st.cand:
            st.cand, st.cand_t = raw, t
        if raw != track.posture and (t - st.cand_t >= cfg.hold_s or track.posture == "unknown"):
            track.posture = raw
        if raw == track.posture:
            track.posture_confidence = conf
        return track.posture

    @staticmethod
    def _ground_features(f, st, ground):
        """``stand_span``, ``sink`` and ``head_over_hip`` from the source's ground model (see ground.py)."""
        if f.ankle_y is not None and f.head_y is not None:
            span = ground.span(f.ankle_y)
            if span == span:
                f.stand_span = span * st.ground_scale
                f.sink = (f.head_y - (f.ankle_y - f.stand_span)) / f.stand_span
        if f.head_y is not None:
            span = ground.span(f.hip[1])
            if span == span:
                f.head_over_hip = (f.hip[1] - f.head_y) / (span * st.ground_scale)

    def _is_down(self, f):
        cfg = self.cfg
        hip_low = f.hip_rel is None or f.hip_rel < 0.35
        if f.torso_deg >= cfg.lying_torso_deg and hip_low:
            return "body"
        crouched = f.torso_deg <= cfg.upright_torso_deg and (f.torso_ratio is None or f.torso_ratio >= 0.6)
        if f.head_rel is not None and f.head_rel < cfg.floor_head_body_heights and (
                f.hip_rel is None or f.hip_rel < 0.3) and not crouched:
            return "body"
        if (f.torso_ratio is not None and f.torso_ratio < 0.55 and f.head_rel is not None
                and f.head_rel < 0.5 and f.hip_rel is not None and f.hip_rel < 0.42
                and (f.hip_drop is None or f.hip_drop >= 0.06)):
            return "body"  # foreshortened and low, hips lowered (bending toward the camera keeps them up)
        if (f.torso_deg >= cfg.lying_torso_deg - 10 and f.head_rel is not None and f.head_rel < 0.5
                and f.hip_rel is not None and f.hip_rel < 0.42 and (f.knee_deg is None or f.knee_deg > 60)
                and (f.hip_drop is None or f.hip_drop >= 0.06)):
            return "body"  # tilted, head low and hips lowered: lying seen along the view direction
        if (f.torso_ratio is not None and f.torso_ratio < 0.3 and f.head_rel is not None and f.head_rel < 0.65
                and f.hip_drop is not None and f.hip_drop >= 0.08):
            return "body"  # torso pointing at or away from the camera, hips lower than when standing
        if (f.torso_ratio is not None and f.torso_ratio < 0.55 and f.head_rel is not None and f.head_rel < 0.65
                and f.hip_drop is not None and f.hip_drop >= 0.1 and f.knee_deg is not None and f.knee_deg > 120):
            return "body"  # lying straight along the view axis: a short, foreshortened body with straight legs
        if (f.torso_ratio is not None and f.torso_ratio < 0.65 and f.head_rel is not None and f.head_rel < 0.65
                and f.hip_drop is not None and f.hip_drop >= 0.2):
            return "body"  # foreshortened, head low, hips far below their standing height: lying along the view axis
        standing_legs = (f.knee_deg is not None and f.knee_deg >= _FLOOR_KNEE_DEG and f.leg_ratio is not None
                         and f.leg_ratio >= _TALL_LEG and f.leg_deg is not None and f.leg_deg <= _TALL_TORSO_DEG)
        if (f.head_over_hip is not None and 0.0 <= f.head_over_hip <= cfg.ground_head_over_hip_body_heights
                and f.sink is not None and f.sink >= cfg.ground_sink_body_heights and not standing_legs):
            return "ground"  # the head barely above the hips' floor row and well below a standing head there
        if (f.head_over_hip is not None and 0.0 <= f.head_over_hip <= _TILTED_HEAD_OVER_HIP
                and f.torso_deg >= cfg.upright_torso_deg and f.sink is not None
                and f.sink >= cfg.ground_sink_body_heights and not standing_legs):
            return "ground"  # the same with the torso tilted: lying at a slant to the view, partly foreshortened
        return None

    def _standing_tall(self, f, st, t):
        """Upright with straight legs and not in the middle of a fast change: a good moment to learn
        the person's size (the torso shrinking fast means foreshortening, e.g. falling toward the camera)."""
        hist = st.len_hist
        hist.append((t, f.torso_len))
        while len(hist) > 2 and t - hist[1][0] >= 0.3:
            hist.pop(0)
        t0, l0 = hist[0]
        shrinking = t - t0 >= 0.1 and l0 > 0 and (f.torso_len / l0 - 1.0) / (t - t0) < -0.3
        return (f.torso_deg <= self.cfg.upright_torso_deg and (f.knee_deg is None or f.knee_deg > 150)
                and not st.down and not shrinking)

    @staticmethod
    def _tall(f, st, ref, dt, sink):
        """Standing tall: upright, torso near vertical, legs straight and seen at full length, and the
        head not sunk (by more than ``sink`` standing heights) below where it was the last time the
        person stood tall, beyond what coming closer to the camera explains (the torso grows in the
        image; up to ``_TALL_WALK`` x its relative growth) or going away from it explains (walking away
        from a camera below head height moves the head down toward the horizon: allowed up to the
        body's relative shrink, and no further than the feet rose up the image). The reference row
        only rises, except that a person seen standing further away (by ``_REANCHOR`` or more) is
        re-anchored where they now stand; a slow slide or sitting down never lifts the feet, so it
        cannot drag the reference down. Someone sitting on the floor with the legs stretched toward a
        raised camera looks like a standing person in the image, only lower and no larger. Needs no
        floor line, so the floor line is learned from it."""
        shape = (f.upright and f.torso_deg <= _TALL_TORSO_DEG and (f.leg_ratio is None or f.leg_ratio >= _TALL_LEG)
                 and (f.knee_deg is None or f.knee_deg >= _FLOOR_KNEE_DEG))
        if not shape or f.head_y is None:
            return bool(shape)
        sh, sl = st.stand_head, st.stand_torso
        if sh is not None and ref > 0:
            closer = max(0.0, f.torso_len / sl - 1.0) if sl else 0.0
            # walking away from a camera below head height moves the head down the image too (toward
            # the horizon), by at most the body's relative shrink and only as far as the feet rose
            # (sinking or sitting down never lifts the feet up the image)
            receding = 0.0
            if sl and f.torso_len > 0 and st.stand_ankle is not None and f.ankle_y is not None:
                receding = min(max(0.0, sl / f.torso_len - 1.0), max(0.0, (st.stand_ankle - f.ankle_y) / ref))
            if (f.head_y - sh) / ref - _TALL_WALK * closer - receding > sink:
                return False
            if receding >= _REANCHOR and f.head_y > sh:
                # standing further away now: this is where the person stands (a later slide or sit is
                # measured from here, and it never lifts the feet, so it cannot move this)
                st.stand_head, st.stand_torso, st.stand_ankle = f.head_y, f.torso_len, f.ankle_y
                return True
        if sh is None or f.head_y < sh:  # the reference only rises (a slow slide must not drag it down)
            a = 1.0 - math.exp(-dt / _FLOOR_TAU_S) if sh is not None else 1.0
            st.stand_head = f.head_y if sh is None else sh + a * (f.head_y - sh)
            st.stand_torso = f.torso_len if sl is None else sl + a * (f.torso_len - sl)
            if f.ankle_y is not None:
                sa = st.stand_ankle
                st.stand_ankle = f.ankle_y if sa is None or sh is None else sa + a * (f.ankle_y - sa)
        return True

    def _still_down(self, f):
        """Hysteresis: once down, a body stays down until it is clearly up again (hips up, or torso
        upright with the head high or the torso back to its full length)."""
        cfg = self.cfg
        if f.hip_rel is not None and f.hip_rel >= 0.45:
            return False
        if f.torso_deg > cfg.lying_torso_deg - 15:
            return True
        if f.head_rel is None:
            return False
        if f.head_rel >= 0.75:
            return False
        return not ((f.torso_ratio is None or f.torso_ratio >= 0.8) and f.head_rel >= 0.55)

    def _classify(self, f):
        cfg = self.cfg
        conf = max(0.0, min(1.0, f.conf * 1.5))
        if f.down:
            return "lying", conf
        if f.torso_deg <= cfg.lying_torso_deg:
            if f.knee_deg is not None:
                if f.knee_deg < cfg.sitting_knee_deg:
                    return "sitting", conf
                return "standing", conf
            if f.head_rel is not None:
                return ("standing" if f.head_rel > 0.8 else "sitting"), conf * 0.7
            if f.torso_deg <= cfg.upright_torso_deg:
                return "standing", conf * 0.5
            return "unknown", 0.0
        return "standing", conf * 0.6  # bent over with the hips up
