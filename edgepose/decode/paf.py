"""Limb candidates: every pair of keypoint candidates of every limb, scored on the PAF in one pass.

For a pair (a, b) of limb ``k`` the score is OpenPose's line integral: ``paf_samples`` points at the
centres of equal steps along the segment a->b, the PAF vector of the limb read at each point, at
the PAF's own stride (so a PAF at stride 2 beside a heatmap at stride 8 is exact), and its dot
product with the unit vector a->b. A pair is a candidate when MORE than ``paf_count_ratio`` of the
samples exceed ``paf_threshold`` and its score is positive, where

    score = mean(dot) [+ min(0, 0.5 * H / len - 1) with ``distance_prior``; H = map height, len = |a->b|]

(H and len in the same units: the ratio does not depend on the resolution).

``paf_interpolation``: bilinear reads, or the nearest cell; "auto" reads the nearest cell of a PAF
at stride <= 2 (within a pixel of the point, and a quarter of the reads of a large map) and
bilinear from coarser PAFs.

All pairs of all limbs are built and scored together, in a few numpy expressions. Samples are read
in two rounds: first the few samples nearest the middle of each segment, which reject most pairs
(those with more failing samples than the count rule allows: the middle of a wrong pair lies off
any limb), then the remaining samples of the pairs still in the running. The result is the same
as reading every sample of every pair.
"""
from typing import NamedTuple

import numpy as np


class LimbCandidates(NamedTuple):
    """Accepted pairs, sorted by limb, then by descending score."""

    limb: np.ndarray   # (M,) int64
    a: np.ndarray      # (M,) int64 index into Peaks (the limb's first part)
    b: np.ndarray      # (M,) int64 index into Peaks (the limb's second part)
    score: np.ndarray  # (M,) float32 limb score


EMPTY = LimbCandidates(np.zeros(0, np.int64), np.zeros(0, np.int64), np.zeros(0, np.int64),
                       np.zeros(0, np.float32))


def _all_pairs(count, start, limb_parts):
    """(limb, a, b) of every pair of candidates of every limb, or None when there are none."""
    na = count[limb_parts[:, 0]]
    nb = count[limb_parts[:, 1]]
    npairs = na * nb
    total = int(npairs.sum())
    if total == 0:
        return None
    limb = np.repeat(np.arange(len(limb_parts)), npairs)
    # offset of each pair inside its limb's block -> (row, column) in the na x nb grid
    first = np.cumsum(npairs) - npairs
    local = np.arange(total) - np.repeat(first, npairs)
    nbl = np.repeat(nb, npairs)
    ia = local // nbl
    a = np.repeat(start[limb_parts[:, 0]], npairs) + ia
    b = np.repeat(start[limb_parts[:, 1]], npairs) + (local - ia * nbl)
    return limb, a, b


class LimbScorer:
    """Scores limb candidates for one profile and set of decode parameters (precomputed plan)."""

    def __init__(self, limb_parts, limb_channels, params):
        self.limb_parts = np.asarray(limb_parts, dtype=np.int64)
        self.limb_channels = np.asarray(limb_channels, dtype=np.int64)
        n = int(params.paf_samples)
        self.n = n
        self.need = int(np.floor(params.paf_count_ratio * n + 1e-9))  # MORE than this many samples
        self.allowed_fail = n - self.need - 1
        self.threshold = np.float32(params.paf_threshold)
        self.distance_prior = bool(params.distance_prior)
        self.interpolation = params.paf_interpolation
        t = ((np.arange(n) + 0.5) / n).astype(np.float32)
        # round 1: the samples nearest the middle, just enough of them to reject a pair on their own
        k = min(n, max(self.allowed_fail, 0) + 1)
        by_centre = np.argsort(np.abs(np.arange(n) - (n - 1) / 2.0), kind="stable")
        self.t1 = t[np.sort(by_centre[:k])]
        self.t2 = t[np.sort(by_centre[k:])]

    def score(self, peaks, maps):
        """``LimbCandidates`` of one image from its ``Peaks`` and ``MapSet``."""
        if self.allowed_fail < 0:
            return EMPTY
        pairs = _all_pairs(peaks.count, peaks.start, self.limb_parts)
        if pairs is None:
            return EMPTY
        limb, a, b = pairs
        pxy = (peaks.xy + np.float32(0.5)) * np.float32(1.0 / maps.paf_stride) - np.float32(0.5)  # PAF cells
        ax, ay = pxy[a, 0], pxy[a, 1]
        dx = pxy[b, 0] - ax
        dy = pxy[b, 1] - ay
        length = np.hypot(dx, dy)
        ok = length > 1e-6
        inv = 1.0 / np.maximum(length, np.float32(1e-6))
        ux = dx * inv
        uy = dy * inv
        ch = (self.limb_channels[limb] * maps.paf_strides[2]).T  # (2, P) offsets of the x, y channels

        thr = self.threshold
        mode = self.interpolation
        if mode == "auto":
            mode = "nearest" if maps.paf_stride <= 2 else "bilinear"
        _dots = _dots_nearest if mode == "nearest" else _dots_bilinear
        dots1 = _dots(maps, ax, ay, dx, dy, self.t1, ch, ux, uy)
        fails = (dots1 <= thr).sum(axis=1)
        alive = np.flatnonzero(ok & (fails <= self.allowed_fail))
        if len(alive) == 0:
            return EMPTY
        total = dots1[alive].sum(axis=1)
        count = len(self.t1) - fails[alive]
        if len(self.t2):
            dots2 = _dots(maps, ax[alive], ay[alive], dx[alive], dy[alive], self.t2, ch[:, alive],
                          ux[alive], uy[alive])
            total += dots2.sum(axis=1)
            count += (dots2 > thr).sum(axis=1)
        score = total * np.float32(1.0 / self.n)
        if self.distance_prior:
            score += np.minimum(0.0, 0.5 * maps.paf_shape[0] / length[alive] - 1.0).astype(np.float32)
        good = (count > self.need) & (score > 0)
        if not good.any():
            return EMPTY
        sel = alive[good]
        score = score[good]
        order = np.lexsort((-score, limb[sel]))
        sel = sel[order]
        return LimbCandidates(limb[sel], a[sel], b[sel], score[order])


def _dots_nearest(maps, ax, ay, dx, dy, t, ch, ux, uy):
    """PAF . (ux, uy) at the points a + t * d of every pair: ``(P, len(t))``, nearest PAF cell."""
    hp, wp = maps.paf_shape
    sy, sx, _ = maps.paf_strides
    xi = np.rint(ax[:, None] + dx[:, None] * t).astype(np.intp)
    yi = np.rint(ay[:, None] + dy[:, None] * t).astype(np.intp)
    np.clip(xi, 0, wp - 1, out=xi)
    np.clip(yi, 0, hp - 1, out=yi)
    i = yi * sy
    i += xi * sx
    flat = maps.paf
    out = flat[i + ch[0][:, None]]
    out *= ux[:, None]
    v = flat[i + ch[1][:, None]]
    v *= uy[:, None]
    out += v
    return out


def _dots_bilinear(maps, ax, ay, dx, dy, t, ch, ux, uy):
    """PAF . (ux, uy) at the points a + t * d of every pair: ``(P, len(t))``, bilinear at the PAF stride.

    ch: ``(2, P)`` flat offsets of each pair's x and y channels.
    """
    hp, wp = maps.paf_shape
    sy, sx, _ = maps.paf_strides
    px = ax[:, None] + dx[:, None] * t
    py = ay[:, None] + dy[:, None] * t
    np.clip(px, 0, wp - 1, out=px)
    np.clip(py, 0, hp - 1, out=py)
    x0 = np.minimum(px.astype(np.intp), wp - 2)
    y0 = np.minimum(py.astype(np.intp), hp - 2)
    px -= x0  # fractional parts
    py -= y0
    i = y0 * sy
    i += x0 * sx
    i = i[None] + ch[:, :, None]  # (2, P, S): both channels at once
    flat = maps.paf
    v00 = flat[i]
    v01 = flat[i + sx]
    i += sy
    v10 = flat[i]
    v11 = flat[i + sx]
    v01 -= v00
    v01 *= px
    v00 += v01  # top row, along x
    v11 -= v10
    v11 *= px
    v10 += v11  # bottom row
    v10 -= v00
    v10 *= py
    v00 += v10  # bilinear (x, y) vectors
    v00[0] *= ux[:, None]
    v00[1] *= uy[:, None]
    return v00[0] + v00[1]


def score_limbs(peaks, maps, limb_parts, limb_channels, params):
    """Score every candidate pair of every limb; return the accepted ones (one-off helper)."""
    return LimbScorer(limb_parts, limb_channels, params).score(peaks, maps)
