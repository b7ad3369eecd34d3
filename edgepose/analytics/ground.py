"""Per-source ground-plane model: how tall a standing person looks at each foot row of the image.

A fixed camera looks at a floor. For a pinhole camera whose image rows are level, a person of height H
standing with the feet on image row ``v`` spans ``H / h_cam * (v - v_horizon)`` pixels from feet to head:
the standing span is linear in the foot row (nearly so for a pitched camera). People walking around
give many samples of it, so each source learns ``span(v) = slope * v + offset`` by least squares over
the feet and head rows of confidently standing people (``features.tall``: upright, legs straight and
at full length, with both a head point and an ankle seen), shared by all tracks of the source. A track
also learns its own ``scale`` against the model while it stands (people differ in height).

With it, a body can be judged against where it stands, not only against its own history: a head far
below the standing head row for the feet's row, or a head barely above the row of the hips where a
standing person would be several times taller, means the person is down even when their torso looks
upright in the image (lying with the feet toward a raised camera), and a track that was never seen
standing (it started, or broke and restarted, while the person was down) still gets a standing height.

Memory is bounded: six exponentially-forgotten sums (``tau_s``), updated with every frame's samples
in one vectorised step. The model answers only within the band of foot rows it has seen (plus a
margin): extrapolating a line fitted on a narrow band would be guessing.
"""
import math

import numpy as np

_MIN_WEIGHT = 20.0      # samples (after forgetting) before the model answers
_OUTLIER = 0.3          # once ready, samples off the model by more than this share are not learned
_SLOPE_RANGE = (0.0, 2.5)


class GroundModel(object):
    """``span(v)``: expected head-to-ankle span in pixels of a standing person whose feet are on image
    row ``v`` (array or float; NaN where the model cannot tell). ``add(t, v, span)`` learns samples."""

    def __init__(self, tau_s=600.0, min_spread_px=4.0):
        self.tau_s = float(tau_s)
        self.min_spread_px = float(min_spread_px)
        # sum of weights, w*v, w*v^2, w*s, w*v*s (exponentially forgotten)
        self._sums = np.zeros(5)
        self._t = None
        self._fit = None  # (slope, offset, mean_v, std_v, mean_s) or None

    @property
    def ready(self):
        return self._fit is not None

    @property
    def samples(self):
        """The weight of what was learned (samples, after forgetting)."""
        return float(self._sums[0])

    def add(self, t, v, span):
        """Learn standing samples seen at time ``t``: foot rows ``v`` and head-to-ankle spans (pixels)."""
        v = np.atleast_1d(np.asarray(v, dtype=np.float64))
        s = np.atleast_1d(np.asarray(span, dtype=np.float64))
        ok = np.isfinite(v) & np.isfinite(s) & (s > 1.0)
        if self._fit is not None and ok.any():
            pred = self.span(v)
            ok &= ~(np.abs(s - pred) > _OUTLIER * pred)  # NaN prediction (outside the band): keep
        if self._t is not None and t > self._t:
            self._sums *= math.exp(-(t - self._t) / self.tau_s)
        self._t = t if self._t is None else max(self._t, t)
        if ok.any():
            v, s = v[ok], s[ok]
            self._sums += (len(v), v.sum(), (v * v).sum(), s.sum(), (v * s).sum())
        self._refit()

    def _refit(self):
        n, sv, svv, ss, svs = self._sums
        if n < _MIN_WEIGHT:
            self._fit = None
            return
        mv, ms = sv / n, ss / n
        var = max(svv / n - mv * mv, 0.0)
        std = math.sqrt(var)
        if std >= self.min_spread_px:
            slope = min(max((svs / n - mv * ms) / var, _SLOPE_RANGE[0]), _SLOPE_RANGE[1])
        else:
            slope = 0.0  # one spot seen: the span there, and nothing far from it
        self._fit = (slope, ms - slope * mv, mv, std, ms)

    def span(self, v):
        """Expected standing span (pixels) at foot row(s) ``v``; NaN outside the learned band."""
        v = np.asarray(v, dtype=np.float64)
        if self._fit is None:
            return np.full(v.shape, np.nan) if v.shape else float("nan")
        slope, offset, mv, std, ms = self._fit
        out = slope * v + offset
        band = 3.0 * std + 0.25 * ms
        bad = (np.abs(v - mv) > band) | (out <= 0.1 * ms)
        if v.shape:
            out = np.where(bad, np.nan, out)
            return out
        return float("nan") if bad else float(out)

    def state(self):
        """JSON-friendly summary (for health pages and tests)."""
        fit = self._fit
        return {"samples": round(self.samples, 1), "ready": fit is not None,
                "slope": None if fit is None else round(float(fit[0]), 4),
                "offset_px": None if fit is None else round(float(fit[1]), 2)}
