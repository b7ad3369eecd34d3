"""Stable person ids across frames: OKS matching, a constant-velocity motion model, smoothing.

Time-based throughout: the filter gains come from the real time step (``1 - exp(-dt / tau)``), a
track lives ``max_missing_s`` seconds without detections (not N frames), and a keypoint the
detector misses keeps its predicted position for ``keypoint_hold_s``. So variable frame rates and
dropped frames need no special handling.

Assignment: ``scipy.optimize.linear_sum_assignment`` on ``1 - OKS`` when scipy is importable (it is
only a dev dependency), else a greedy match by descending OKS. With the handful of people a camera
sees the two agree almost always; ``tools/fall_report.py --bench-assign`` measures both.
"""
import functools
import logging
import math
from typing import List

import numpy as np

from .. import deps
from ..topology import KP, NUM_KEYPOINTS, OKS_SIGMAS
from .config import TrackerConfig

log = logging.getLogger(__name__)

_K2 = (2.0 * OKS_SIGMAS) ** 2  # COCO: vars = (2 sigma)^2
_NECK, _RHIP, _LHIP = KP["neck"], KP["r_hip"], KP["l_hip"]


def scipy_assignment():
    """scipy's ``linear_sum_assignment``, or None: scipy is optional (greedy assignment without it)."""
    return getattr(deps.optional("scipy"), "linear_sum_assignment", None)


def oks_matrix(pred, pred_valid, dets, det_valid, areas):
    """OKS between every track (T) and detection (N).

    pred: (T, 18, 2), pred_valid: (T, 18) bool, dets: (N, 18, 2), det_valid: (N, 18) bool,
    areas: (T,) object scale s^2 in pixels^2. Keypoints present in only one side are ignored; a
    pair sharing fewer than 2 keypoints gets 0. The similarity is averaged over the shared keypoints,
    but over at least half of the track's (``_MIN_SHARE``): a fragment of a few parts (a network's stray
    limb beside a falling person) must not beat the whole person. Returns (T, N) float64 in [0, 1].
    """
    d = pred[:, None, :, :] - dets[None, :, :, :]
    d2 = d[..., 0] ** 2 + d[..., 1] ** 2
    both = pred_valid[:, None, :] & det_valid[None, :, :]
    e = d2 / (2.0 * np.maximum(areas, 1.0)[:, None, None] * _K2[None, None, :])
    with np.errstate(invalid="ignore", over="ignore"):
        sim = np.where(both, np.exp(-e), 0.0)
    n = both.sum(axis=2)
    need = _MIN_SHARE * pred_valid.sum(axis=1)[:, None]
    oks = sim.sum(axis=2) / np.maximum(np.maximum(n, need), 1)
    oks[n < 2] = 0.0
    return oks


def greedy_assign(score, min_score):
    """Pairs (row, col) by descending score, each row and column used once, score >= min_score."""
    if score.size == 0:
        return []
    order = np.argsort(-score, axis=None)
    rows, cols = np.unravel_index(order, score.shape)
    used_r, used_c, pairs = set(), set(), []
    for r, c in zip(rows.tolist(), cols.tolist()):
        if score[r, c] < min_score:
            break
        if r in used_r or c in used_c:
            continue
        used_r.add(r)
        used_c.add(c)
        pairs.append((r, c))
    return pairs


def hungarian_assign(score, min_score, lsa=None):
    """Optimal pairs maximising total score (scipy's ``lsa``), then pairs under min_score dropped."""
    if score.size == 0:
        return []
    rows, cols = (lsa or scipy_assignment())(-score)
    return [(r, c) for r, c in zip(rows.tolist(), cols.tolist()) if score[r, c] >= min_score]


class Track(object):
    """One person followed over time.

    keypoints: (18, 3) smoothed x, y, score (NaN where unknown); velocity: (18, 2) pixels/s;
    posture, posture_confidence, features, posture_state: set by the posture estimator;
    fall_state, slump_state, bad_posture_state: by the fall, person-down and bad-posture detectors;
    events: label -> id of the track's open events, kept by the analyzer.
    """

    def __init__(self, track_id, t, keypoints, score):
        self.track_id = track_id
        self.first_t = t
        self.last_t = t
        self.hits = 1
        self.rows = np.asarray(keypoints, dtype=np.float64).tolist()  # 18 x [x, y, s]: the filter state
        self.vel_rows = [[0.0, 0.0] for _ in range(NUM_KEYPOINTS)]     # 18 x [vx, vy] pixels/s
        self.seen_t = [(-math.inf if r[0] != r[0] else t) for r in self.rows]
        self._kps = self._vel = None
        self.score = score
        self.raw = keypoints
        self.matched = True
        self.posture = "unknown"
        self.posture_confidence = 0.0
        self.features = None
        self.posture_state = None
        self.fall_state = None
        self.slump_state = None
        self.bad_posture_state = None
        self.events = {}

    # The filter works on plain lists (18 keypoints are too few for numpy to pay off); the arrays
    # are built on demand and cached until the next update.
    @property
    def keypoints(self):
        """(18, 3) float64 smoothed x, y, score (NaN where unknown)."""
        if self._kps is None:
            self._kps = np.array(self.rows, dtype=np.float64)
        return self._kps

    @keypoints.setter
    def keypoints(self, value):
        self.rows = np.asarray(value, dtype=np.float64).tolist()
        self._kps = None

    @property
    def velocity(self):
        """(18, 2) float64 keypoint velocities in pixels per second."""
        if self._vel is None:
            self._vel = np.array(self.vel_rows, dtype=np.float64)
        return self._vel

    @velocity.setter
    def velocity(self, value):
        self.vel_rows = np.asarray(value, dtype=np.float64).tolist()
        self._vel = None

    @property
    def present(self):
        return ~np.isnan(self.keypoints[:, 0])

    def box(self):
        """(x0, y0, x1, y1) of the smoothed keypoints, or None."""
        p = self.keypoints[self.present]
        if len(p) == 0:
            return None
        return (float(p[:, 0].min()), float(p[:, 1].min()), float(p[:, 0].max()), float(p[:, 1].max()))

    def predict(self, t, max_predict_s):
        """Keypoints (18, 2) extrapolated to time t."""
        dt = min(max(t - self.last_t, 0.0), max_predict_s)
        return self.keypoints[:, :2] + self.velocity * dt

    def to_json(self):
        kps = [[None, None, 0] if x != x else [round(x, 2), round(y, 2), round(s, 4)]
               for x, y, s in self.keypoints.tolist()]
        return {"track_id": self.track_id, "posture": self.posture,
                "posture_confidence": round(self.posture_confidence, 3), "keypoints": kps}


class Tracker(object):
    """Keeps ``tracks`` up to date with ``update(t, people)``."""

    def __init__(self, config=None):
        self.tracks = []  # type: List[Track]
        self._next_id = 1
        self.removed = []  # tracks dropped by the last update
        self.configure(config or TrackerConfig())

    def configure(self, config):
        """Use ``config`` from the next update on; the tracks carry on."""
        self.cfg = config
        method = self.cfg.assignment
        lsa = scipy_assignment() if method != "greedy" else None
        if method == "hungarian" and lsa is None:
            log.warning("tracker.assignment: hungarian needs scipy, which is not installed; using greedy")
            method = "greedy"
        if method == "auto":
            method = "hungarian" if lsa is not None else "greedy"
        self.method = method
        self._assign = functools.partial(hungarian_assign, lsa=lsa) if method == "hungarian" else greedy_assign

    def update(self, t, people):
        """Match ``people`` (List[Person]) at time ``t`` seconds; return the live tracks."""
        cfg = self.cfg
        rows = [_rows_of(p) for p in people]
        keep_d = [i for i, r in enumerate(rows) if sum(1 for k in r if k[0] == k[0]) >= cfg.min_keypoints]
        dets = [people[i] for i in keep_d]
        det_rows = [rows[i] for i in keep_d]
        det_kps = [p.keypoints for p in dets]
        tracks = self.tracks
        pairs = []
        if tracks and dets:
            arrays = None
            if len(tracks) * len(dets) <= 6:  # the usual case: plain Python beats numpy's call overhead
                oks = _oks_small(tracks, det_rows, t, cfg.max_predict_s)
            else:
                arrays = self._arrays(tracks, det_kps, t)
                oks = oks_matrix(arrays[0], arrays[1], arrays[2][:, :, :2], arrays[3], _areas(arrays[0]))
            if oks.shape == (1, 1):
                pairs = [(0, 0)] if oks[0, 0] >= cfg.min_oks else []
            else:
                pairs = self._assign(oks, cfg.min_oks)
            if len(pairs) < min(len(tracks), len(dets)):
                arrays = arrays or self._arrays(tracks, det_kps, t)
                pairs = self._fallback(pairs, *arrays)
        matched_t = set()
        matched_d = set()
        for ti, di in pairs:
            self._correct(tracks[ti], t, dets[di], det_rows[di])
            matched_t.add(ti)
            matched_d.add(di)
        keep, self.removed = [], []
        for i, tr in enumerate(tracks):
            if i in matched_t:
                keep.append(tr)
            elif t - tr.last_t > cfg.max_missing_s:
                self.removed.append(tr)
            else:
                tr.matched = False
                keep.append(tr)
        for di, p in enumerate(dets):
            if di not in matched_d:
                keep.append(Track(self._next_id, t, p.keypoints, p.score))
                self._next_id += 1
        self.tracks = keep
        return keep

    def _arrays(self, tracks, det_kps, t):
        """(pred (T, 18, 2), pred valid, dets (N, 18, 3), dets valid, last seen (T, 18, 2))."""
        K = np.stack([tr.keypoints[:, :2] for tr in tracks])
        Vel = np.stack([tr.velocity for tr in tracks])
        dts = np.minimum(np.maximum(t - np.array([tr.last_t for tr in tracks]), 0.0), self.cfg.max_predict_s)
        pred = K + Vel * dts[:, None, None]
        D = np.stack(det_kps).astype(np.float64)
        return pred, ~np.isnan(pred[:, :, 0]), D, ~np.isnan(D[:, :, 0]), K

    def _fallback(self, pairs, pred, pvalid, D, dvalid, last):
        """Second chance for leftovers: nearest centre (predicted or last seen) within half the body's
        extent (fast moves, low FPS, a velocity spoiled by an occlusion)."""
        T, N = len(pred), len(D)
        if len(pairs) == min(T, N):
            return pairs
        used_t = {p[0] for p in pairs}
        used_d = {p[1] for p in pairs}
        cand = []
        for ti in range(T):
            if ti in used_t or not pvalid[ti].any():
                continue
            ct = np.nanmean(pred[ti][pvalid[ti]], axis=0)
            cl = np.nanmean(last[ti][pvalid[ti]], axis=0)
            pts = pred[ti][pvalid[ti]]
            scale = max(float(np.ptp(pts[:, 0])), float(np.ptp(pts[:, 1])), 1.0)  # about the body's height
            for di in range(N):
                if di in used_d or not dvalid[di].any():
                    continue
                cd = np.nanmean(D[di, dvalid[di], :2], axis=0)
                dist = min(float(np.hypot(*(ct - cd))), float(np.hypot(*(cl - cd)))) / scale
                if dist < 0.5:
                    cand.append((dist, ti, di))
        for _, ti, di in sorted(cand):
            if ti in used_t or di in used_d:
                continue
            used_t.add(ti)
            used_d.add(di)
            pairs.append((ti, di))
        return pairs

    def _correct(self, tr, t, person, D):
        """Alpha-beta filter step for one track (plain Python: 18 keypoints are too few for numpy)."""
        cfg = self.cfg
        dt = max(t - tr.last_t, 1e-6)
        pdt = min(dt, cfg.max_predict_s)
        a = 1.0 - math.exp(-dt / cfg.smoothing_tau_s) if cfg.smoothing_tau_s > 0 else 1.0
        b = 1.0 - math.exp(-dt / cfg.velocity_tau_s)
        hold = cfg.keypoint_hold_s
        K = tr.rows
        V = tr.vel_rows
        S = tr.seen_t
        nan = float("nan")
        fresh = []
        svx = svy = 0.0
        nv = 0
        missed = []
        for i in range(NUM_KEYPOINTS):
            k, v, d = K[i], V[i], D[i]
            kx, dx = k[0], d[0]
            if dx != dx:
                if kx == kx:
                    missed.append(i)
                continue
            if kx == kx:  # and tracked: predict, then pull toward the detection
                px, py = kx + v[0] * pdt, k[1] + v[1] * pdt
                nx, ny = px + a * (dx - px), py + a * (d[1] - py)
                vx = v[0] + b * ((nx - kx) / dt - v[0])
                vy = v[1] + b * ((ny - k[1]) / dt - v[1])
                V[i] = [vx, vy]
                svx += vx
                svy += vy
                nv += 1
                K[i] = [nx, ny, d[2]]
            else:
                K[i] = [dx, d[1], d[2]]
                fresh.append(i)
            S[i] = t
        bv = [svx / nv, svy / nv] if nv else [0.0, 0.0]
        for i in missed:  # coast with the body (not on its own velocity) for keypoint_hold_s, then forget
            k = K[i]
            if t - S[i] > hold:
                K[i] = [nan, nan, 0.0]
                V[i] = [0.0, 0.0]
            else:
                K[i] = [k[0] + bv[0] * pdt, k[1] + bv[1] * pdt, k[2]]
                V[i] = list(bv)
        for i in fresh:  # a keypoint that reappears moves with the body
            V[i] = list(bv)
        tr._kps = tr._vel = None  # K and V were updated in place
        tr.raw = person.keypoints
        tr.score = person.score
        tr.last_t = t
        tr.hits += 1
        tr.matched = True


_K2_LIST = _K2.tolist()
_MIN_SHARE = 0.5  # OKS is averaged over at least this share of the track's keypoints


def _rows_of(person):
    """The person's keypoints as 18 Python [x, y, s] rows (NaN where missing)."""
    return person.keypoints.tolist()


def _oks_small(tracks, det_rows, t, max_predict_s):
    """OKS matrix like :func:`oks_matrix` for a few tracks and detections, in plain Python."""
    out = np.zeros((len(tracks), len(det_rows)))
    for ti, tr in enumerate(tracks):
        dt = min(max(t - tr.last_t, 0.0), max_predict_s)
        pred = [None if k[0] != k[0] else (k[0] + v[0] * dt, k[1] + v[1] * dt)
                for k, v in zip(tr.rows, tr.vel_rows)]
        xs = [p[0] for p in pred if p is not None]
        if len(xs) < 2:
            continue
        need = _MIN_SHARE * len(xs)
        ys = [p[1] for p in pred if p is not None]
        w, h = max(xs) - min(xs), max(ys) - min(ys)
        side = max(w, h)
        two_area = 2.0 * max(w * h, 0.1 * side * side, 1.0)
        for di, d in enumerate(det_rows):
            acc, n = 0.0, 0
            for i in range(NUM_KEYPOINTS):
                p, q = pred[i], d[i]
                if p is None or q[0] != q[0]:
                    continue
                dx, dy = p[0] - q[0], p[1] - q[1]
                acc += math.exp(-(dx * dx + dy * dy) / (two_area * _K2_LIST[i]))
                n += 1
            if n >= 2:
                out[ti, di] = acc / max(n, need)
    return out


def _areas(pred):
    """(T,) object scales s^2 for OKS: each track's keypoint box area (at least a small square)."""
    lo = np.fmin.reduce(pred, axis=1)
    hi = np.fmax.reduce(pred, axis=1)
    wh = np.nan_to_num(hi - lo)
    side = wh.max(axis=1)
    return np.maximum(np.maximum(wh[:, 0] * wh[:, 1], 0.1 * side * side), 1.0)


def tracker_method_available():
    """Which assignment 'auto' picks here."""
    return "hungarian" if scipy_assignment() is not None else "greedy"


def person_center(kps):
    """Mid-hip when both hips are known, else the mean of the known keypoints (x, y) or None."""
    hips = kps[[_RHIP, _LHIP], :2]
    ok = ~np.isnan(hips[:, 0])
    if ok.all():
        return float(hips[:, 0].mean()), float(hips[:, 1].mean())
    v = ~np.isnan(kps[:, 0])
    if not v.any():
        return None
    return float(kps[v, 0].mean()), float(kps[v, 1].mean())

