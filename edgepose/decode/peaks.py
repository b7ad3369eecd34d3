"""Keypoint candidates: peaks of the heatmaps, found at the model's own map resolution.

The reference parsers upsample every heatmap x4-x8, smooth the large maps and run NMS there; that is
where their time goes. Here the work stays on the small maps and around the candidates:

1. optional Gaussian smoothing (``smooth_sigma`` in heatmap pixels), as two small matrix products
   (separable, zero padding);
2. NMS: a cell is a peak when it is above ``peak_threshold`` and the maximum of its
   ``nms_window`` x ``nms_window`` neighbourhood on the smoothed map (of a flat top, only the first
   cell in raster order); only the cells above the threshold are visited;
3. sub-pixel refinement: the vertex of a parabola through the logarithm of the peak and its two
   neighbours on each axis (exact for a Gaussian blob), offset limited to half a cell; near the
   map's border the unsmoothed map, and on its outer ring the other axis' curvature, stand in;
4. the keypoint score is the UNSMOOTHED map at the refined position, interpolated with the same
   log-parabolas (exact for a Gaussian; bilinear interpolation would cut the top off a peak).

Positions come out in network-input pixels (a cell ``j`` at stride ``s`` is at ``(j + 0.5) * s - 0.5``).
"""
import math
from functools import lru_cache
from typing import NamedTuple

import numpy as np

from ..topology import NUM_KEYPOINTS


class Peaks(NamedTuple):
    """All keypoint candidates of one image, grouped by part (part 0 first)."""

    xy: np.ndarray      # (K, 2) float32 x, y in network-input pixels
    score: np.ndarray   # (K,) float32 unsmoothed heatmap value at the refined position
    part: np.ndarray    # (K,) int64 keypoint index
    start: np.ndarray   # (18,) int64 index of each part's first candidate
    count: np.ndarray   # (18,) int64 number of candidates of each part


@lru_cache(maxsize=32)
def gaussian_matrix(n, sigma):
    """``(n, n)`` float32 matrix that smooths a length-``n`` signal (zero padding, as the references'
    convolutions: replicating the border instead would pull peaks near it onto the border cell)."""
    r = max(1, int(math.ceil(3.0 * sigma)))
    offs = np.arange(-r, r + 1)
    k = np.exp(-0.5 * (offs / float(sigma)) ** 2)
    k /= k.sum()
    m = np.zeros((n, n), dtype=np.float64)
    rows = np.arange(n)
    for o, w in zip(offs, k):
        cols = rows + o
        inside = (cols >= 0) & (cols < n)  # zero padding: taps off the map read 0
        m[rows[inside], cols[inside]] += w
    m = m.astype(np.float32)
    m.setflags(write=False)
    return m


def smooth(heat, sigma):
    """Gaussian-smooth ``(C, H, W)`` maps with ``sigma`` pixels (0: returned as is)."""
    if sigma <= 0:
        return heat
    c, h, w = heat.shape
    gw = gaussian_matrix(w, float(sigma))
    gh = gaussian_matrix(h, float(sigma))
    out = np.matmul(heat.reshape(c * h, w), gw.T).reshape(c, h, w)
    return np.matmul(gh, out)


_EMPTY = Peaks(np.zeros((0, 2), np.float32), np.zeros(0, np.float32), np.zeros(0, np.int64),
               np.zeros(NUM_KEYPOINTS, np.int64), np.zeros(NUM_KEYPOINTS, np.int64))


def find_peaks(heat, stride, threshold, sigma=0.0, window=3, max_peaks=None):
    """Keypoint candidates of ``(18, H, W)`` heatmaps at ``stride``: a ``Peaks`` in network-input pixels.

    threshold: minimum smoothed peak value; sigma: Gaussian smoothing, heatmap pixels (0: none);
    window: NMS window, heatmap pixels (odd; at least 3); max_peaks: keep at most this many
    candidates per keypoint, the highest (None: all).
    """
    n_maps, h, w = heat.shape
    r = max(1, int(window) // 2)
    hp, wp = h + 2 * r, w + 2 * r
    sm = np.full((n_maps, hp, wp), -np.inf, dtype=np.float32)  # smoothed maps padded with -inf
    inner = (slice(None), slice(r, r + h), slice(r, r + w))
    sm[inner] = smooth(heat, sigma)
    if sigma > 0:
        raw = np.full((n_maps, hp, wp), -np.inf, dtype=np.float32)
        raw[inner] = heat
    else:
        raw = sm
    sflat, rflat = sm.reshape(-1), raw.reshape(-1)

    # NMS where it matters: only cells above the threshold are compared with their window. A
    # peak is above every neighbour earlier in raster order and not below any later one, so a flat
    # top yields one peak (its first cell).
    pidx = np.flatnonzero(sflat > threshold)  # flat index in the padded maps (padding is -inf)
    if len(pidx):
        v = sflat[pidx]
        keep = np.ones(len(pidx), dtype=bool)
        for dy in range(-r, r + 1):
            for dx in range(-r, r + 1):
                if dy or dx:
                    nb = sflat[pidx + (dy * wp + dx)]
                    keep &= (v > nb) if (dy < 0 or (dy == 0 and dx < 0)) else (v >= nb)
        pidx = pidx[keep]
    if len(pidx) == 0:
        return _EMPTY
    if max_peaks is not None and len(pidx) > max_peaks:
        pidx = _strongest(pidx, sflat, hp * wp, max_peaks)
    part, rem = np.divmod(pidx, hp * wp)
    y, x = np.divmod(rem, wp)
    y -= r
    x -= r

    # Sub-pixel refinement: the vertex of a parabola through the log of the smoothed peak and its
    # neighbours, per axis (exact for a Gaussian blob). Near the map's border, where the zero
    # padding of the smoothing bends the blob (and may move its maximum a cell inward), the
    # unsmoothed map is used instead, from its own maximum; on the outer ring the side with the
    # missing neighbour takes its curvature from the other axis (blobs are round).
    # Score: the unsmoothed map at the refined position, through the same log-parabola
    # interpolation (bilinear interpolation would cut the top off a peak one cell wide).
    steps = np.array([-1, 1, -wp, wp])
    cell = pidx  # the cell each candidate's unsmoothed fit is centred on
    raw_fit = _log_fit(rflat, pidx, steps)
    if sigma > 0:
        off = _vertex(_log_fit(sflat, pidx, steps))
        m = max(1, int(math.ceil(3.0 * sigma)))  # cells whose smoothing reached the zero padding
        e = np.flatnonzero((x < m) | (x > w - 1 - m) | (y < m) | (y > h - 1 - m))
        if len(e):
            off[:, e] = _vertex(_take(raw_fit, e))
            away = e[~raw_fit[3][e]]  # the unsmoothed maximum is a cell or two away: refit there
            if len(away):
                cell = pidx.copy()
                cell[away] = _climb(rflat, pidx[away], steps)
                fit = _log_fit(rflat, cell[away], steps)
                for whole, sub in zip(raw_fit, fit):
                    whole[..., away] = sub
                off[:, away] = _vertex(fit)
    else:
        off = _vertex(raw_fit)
    score = _value(raw_fit, off)
    dy, dx = np.divmod(cell - pidx + wp // 2, wp)  # whole cells climbed (|dx| <= 2 < wp / 2)
    dx -= wp // 2
    xy = np.empty((len(part), 2), dtype=np.float32)
    xy[:, 0] = (x + dx + off[0] + 0.5) * stride - 0.5
    xy[:, 1] = (y + dy + off[1] + 0.5) * stride - 0.5
    count = np.bincount(part, minlength=NUM_KEYPOINTS)
    start = np.cumsum(count) - count
    return Peaks(xy, score, part, start, count)


def _strongest(pidx, flat, plane, keep):
    """Of sorted flat indices ``pidx`` (maps of ``plane`` cells each), at most ``keep`` per map: the
    highest values, still sorted by index."""
    part = pidx // plane
    count = np.bincount(part)
    if count.max() <= keep:
        return pidx
    order = np.lexsort((-flat[pidx], part))  # by map, then by descending value
    rank = np.arange(len(pidx)) - (np.cumsum(count) - count)[part[order]]
    return np.sort(pidx[order[rank < keep]])


def _climb(flat, idx, steps, rounds=2):
    """Move cells ``idx`` of a -inf-padded ``flat`` map uphill, one step per axis and round."""
    idx = idx.copy()
    for _ in range(rounds):
        nb = flat[idx[None, :] + steps[:, None]]  # (4, K): x-1, x+1, y-1, y+1
        c = flat[idx]
        for a in (0, 1):
            lo, hi = nb[2 * a], nb[2 * a + 1]
            move = np.where((hi > c) & (hi >= lo), 1, np.where(lo > c, -1, 0))
            idx += move * steps[2 * a + 1]
    return idx


def _log_fit(flat, idx, steps):
    """Log-parabolas around cells ``idx`` of a -inf-padded ``flat`` map: ``(value, slope, curvature, peak)``.

    Per axis (rows: x, y), ``ln v(c + d) - ln v(c) = slope * d + curvature * d^2 / 2`` through the
    cell and its two neighbours; with one neighbour on the map, the other axis' curvature; NaN
    curvature where unknown (or not a maximum); ``peak``: no neighbour is higher than the cell.
    ``steps``: flat offsets of x-1, x+1, y-1, y+1.
    """
    floor = np.float32(1e-4)
    val = np.maximum(flat[idx], floor)
    nb = flat[idx[None, :] + steps[:, None]]  # (4, K)
    present = np.isfinite(nb)
    logs = np.log(np.maximum(nb / val, floor))
    la, lb = logs[0::2], logs[1::2]          # (2, K): x then y
    has_lo, has_hi = present[0::2], present[1::2]
    both = has_lo & has_hi
    k = la + lb
    k = np.where(both & (k < 0), k, np.float32(np.nan))
    slope = 0.5 * (lb - la)
    other = k[::-1]
    borrow = ~both & (has_lo | has_hi) & np.isfinite(other)
    if borrow.any():
        # one neighbour, curvature from the other axis: g(+1) = lb or g(-1) = la
        slope = np.where(borrow, np.where(has_hi, lb - 0.5 * other, 0.5 * other - la), slope)
        k = np.where(borrow, other, k)
    peak = (logs <= 0).all(axis=0)  # no neighbour above the cell
    return val, slope, k, peak


def _take(fit, i):
    """The fits of candidates ``i``."""
    return tuple(a[..., i] for a in fit)


def _vertex(fit):
    """``(2, K)`` offsets (x, y) of the parabolas' vertices, in cells, within half a cell (0 if unknown)."""
    _, slope, k, _ = fit
    known = np.isfinite(k)
    d = np.where(known, -slope / np.where(known, k, np.float32(-1.0)), np.float32(0.0))
    return np.clip(d, -0.5, 0.5).astype(np.float32)


def _value(fit, off):
    """The fitted map value at offsets ``off`` (2, K) from the cells (the cell's value where unknown)."""
    val, slope, k, _ = fit
    known = np.isfinite(k)
    g = np.where(known, off * (slope + 0.5 * np.where(known, k, np.float32(0.0)) * off), np.float32(0.0))
    return (val * np.exp(g.sum(axis=0))).astype(np.float32)
