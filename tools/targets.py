"""Training targets for BPNet-Lite: Gaussian keypoint heatmaps + background, and PAF bands (numpy).

Grid convention (docs/contracts.md): cell ``j`` of a map at stride ``s`` sits at input coordinate
``(j + 0.5) * s - 0.5``.

- Heatmaps ``(19, h, w)``: channel k = max over people of exp(-d^2 / (2 sigma^2)) around keypoint k
  (labelled keypoints only: v > 0, occluded ones included as COCO labels them); channel 18 is the
  background = clip(1 - max over keypoint channels, 0, 1).
- PAFs ``(38, h, w)``: limb k (``edgepose.topology.LIMB_INDEX`` order) -> channels 2k (x), 2k+1 (y):
  the unit vector from the first part to the second at every cell within ``limb_width`` input pixels
  of the segment (and between its ends); where limbs of several people overlap, their vectors are
  averaged (OpenPose's rule).
"""
import numpy as np

from edgepose.topology import FLIP_INDEX, LIMB_INDEX, NUM_KEYPOINTS


def grid(size, stride):
    """Cell-centre coordinates ``(xs (w,), ys (h,))`` in input pixels for an input of ``size`` (H, W)."""
    h, w = size[0] // stride, size[1] // stride
    xs = (np.arange(w, dtype=np.float32) + 0.5) * stride - 0.5
    ys = (np.arange(h, dtype=np.float32) + 0.5) * stride - 0.5
    return xs, ys


def render_heatmaps(keypoints, size, stride=8, sigma=6.0):
    """``keypoints (N, 18, 3)`` x, y, v in input pixels -> ``(19, H/stride, W/stride)`` float32."""
    xs, ys = grid(size, stride)
    out = np.zeros((NUM_KEYPOINTS + 1, len(ys), len(xs)), dtype=np.float32)
    kps = np.asarray(keypoints, dtype=np.float32).reshape(-1, NUM_KEYPOINTS, 3)
    inv = 1.0 / (2.0 * sigma * sigma)
    cut = 3.0 * sigma
    for person in kps:
        for k in range(NUM_KEYPOINTS):
            x, y, v = person[k]
            if not (v > 0) or not np.isfinite(x) or not np.isfinite(y):
                continue
            # Only the window within 3 sigma is touched (cheap for many people).
            cx = np.nonzero(np.abs(xs - x) <= cut)[0]
            cy = np.nonzero(np.abs(ys - y) <= cut)[0]
            if len(cx) == 0 or len(cy) == 0:
                continue
            gx = np.exp(-((xs[cx] - x) ** 2) * inv)
            gy = np.exp(-((ys[cy] - y) ** 2) * inv)
            g = gy[:, None] * gx[None, :]
            sl = (k, slice(cy[0], cy[-1] + 1), slice(cx[0], cx[-1] + 1))
            np.maximum(out[sl], g, out=out[sl])
    out[NUM_KEYPOINTS] = np.clip(1.0 - out[:NUM_KEYPOINTS].max(axis=0), 0.0, 1.0)
    return out


def render_pafs(keypoints, size, stride=8, limb_width=8.0):
    """``keypoints (N, 18, 3)`` in input pixels -> ``(38, H/stride, W/stride)`` float32 PAF bands."""
    xs, ys = grid(size, stride)
    gx, gy = np.meshgrid(xs, ys)
    out = np.zeros((2 * len(LIMB_INDEX), len(ys), len(xs)), dtype=np.float32)
    count = np.zeros((len(LIMB_INDEX), len(ys), len(xs)), dtype=np.float32)
    kps = np.asarray(keypoints, dtype=np.float32).reshape(-1, NUM_KEYPOINTS, 3)
    for person in kps:
        for k, (a, b) in enumerate(LIMB_INDEX):
            pa, pb = person[a], person[b]
            if not (pa[2] > 0 and pb[2] > 0):
                continue
            if not np.all(np.isfinite(pa[:2])) or not np.all(np.isfinite(pb[:2])):
                continue
            d = pb[:2] - pa[:2]
            length = float(np.hypot(d[0], d[1]))
            if length < 1e-3:
                continue
            ux, uy = d / length
            rx, ry = gx - pa[0], gy - pa[1]
            along = rx * ux + ry * uy
            across = np.abs(rx * uy - ry * ux)
            mask = (along >= -limb_width * 0.5) & (along <= length + limb_width * 0.5) & (across <= limb_width)
            if not mask.any():
                continue
            out[2 * k][mask] += ux
            out[2 * k + 1][mask] += uy
            count[k][mask] += 1.0
    many = count > 1
    if many.any():
        c = np.repeat(np.maximum(count, 1.0), 2, axis=0)
        out /= c
    return out


def flip_keypoints(keypoints, width):
    """Keypoints of a horizontally flipped image of ``width`` pixels (left/right parts swapped)."""
    kps = np.array(keypoints, dtype=np.float32, copy=True).reshape(-1, NUM_KEYPOINTS, 3)
    kps[..., 0] = (width - 1) - kps[..., 0]
    return kps[:, FLIP_INDEX]
