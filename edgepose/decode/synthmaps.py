"""Ground-truth heatmaps and PAFs rendered from known skeletons (tests, benchmarks, debugging).

``render_maps(profile, people, size)`` draws what a perfect network would output for ``people``
(``(N, 18, 3)`` x, y, v in network-input pixels; v > 0 = labelled), laid out exactly as the profile
says: heatmap and PAF in one tensor (tf-pose) or two tensors at their own strides (TAO), NHWC or
NCHW, with a leading batch dimension of 1.

- heatmaps: a Gaussian of ``sigma`` input pixels per labelled keypoint, the maximum over people;
  the background channel is ``1 - max`` over keypoints;
- PAFs: for each limb with both ends labelled, the unit vector from the first part to the second
  on every cell within ``limb_width`` input pixels of the segment's line, from ``limb_width``
  before its start to ``limb_width`` after its end (so that a limb shorter than a cell still
  shows); where people overlap, the average of their vectors (as in OpenPose's training targets).

Keypoints outside the image are treated as not labelled (as COCO annotators do). ``skeleton`` makes
simple poses and ``crowd`` lays out several people on a grid, for scenes of 1..N people.
"""
import math

import numpy as np

from ..topology import KP, NUM_KEYPOINTS

# A standing person facing the camera (its right side on the image's left), in units of its height,
# origin between the hips; y down.
_STAND = {
    "nose": (0.0, -0.40), "neck": (0.0, -0.30),
    "r_shoulder": (-0.11, -0.29), "r_elbow": (-0.14, -0.12), "r_wrist": (-0.15, 0.03),
    "l_shoulder": (0.11, -0.29), "l_elbow": (0.14, -0.12), "l_wrist": (0.15, 0.03),
    "r_hip": (-0.07, 0.02), "r_knee": (-0.075, 0.24), "r_ankle": (-0.08, 0.45),
    "l_hip": (0.07, 0.02), "l_knee": (0.075, 0.24), "l_ankle": (0.08, 0.45),
    "r_eye": (-0.025, -0.425), "l_eye": (0.025, -0.425), "r_ear": (-0.06, -0.41), "l_ear": (0.06, -0.41),
}
_POSES = {
    "stand": {},
    "arms_up": {"r_elbow": (-0.16, -0.44), "r_wrist": (-0.17, -0.60),
                "l_elbow": (0.16, -0.44), "l_wrist": (0.17, -0.60)},
    "arms_out": {"r_elbow": (-0.28, -0.29), "r_wrist": (-0.45, -0.29),
                 "l_elbow": (0.28, -0.29), "l_wrist": (0.45, -0.29)},
    "wave": {"r_elbow": (-0.25, -0.36), "r_wrist": (-0.28, -0.55)},
}
POSES = tuple(sorted(_POSES))


def skeleton(cx, cy, height, pose="stand", angle=0.0):
    """``(18, 3)`` float32 keypoints (x, y, v=2) of a person centred at (cx, cy) (between the hips).

    pose: one of ``POSES``; angle: rotation in degrees (90: lying, head to the left).
    """
    table = dict(_STAND)
    table.update(_POSES[pose])
    rel = np.array([table[n] for n in sorted(KP, key=KP.get)], dtype=np.float64) * float(height)
    a = math.radians(angle)
    rot = np.array([[math.cos(a), -math.sin(a)], [math.sin(a), math.cos(a)]])
    xy = rel @ rot.T + (cx, cy)
    out = np.empty((NUM_KEYPOINTS, 3), dtype=np.float32)
    out[:, :2] = xy
    out[:, 2] = 2
    return out


def crowd(n, size, seed=0, poses=("stand", "arms_up", "wave")):
    """``(n, 18, 3)`` people on a jittered grid filling an image of ``size`` (H, W), none overlapping."""
    h, w = size
    rng = np.random.default_rng(seed)
    rows = max(1, int(round(math.sqrt(n * h / float(w) / 2.5))))
    cols = int(math.ceil(n / float(rows)))
    ch, cw = h / float(rows), w / float(cols)
    # Height limited by the cell height and width (arms reach about +-0.3 height with these poses).
    base = min(0.62 * ch, 1.4 * cw)
    people = []
    for i in range(n):
        r, c = divmod(i, cols)
        height = base * rng.uniform(0.85, 1.0)
        cx = (c + 0.5) * cw + rng.uniform(-0.05, 0.05) * cw
        cy = (r + 0.5) * ch + 0.05 * height + rng.uniform(-0.04, 0.04) * ch
        pose = poses[int(rng.integers(len(poses)))]
        people.append(skeleton(cx, cy, height, pose, angle=rng.uniform(-8, 8)))
    return np.stack(people) if people else np.zeros((0, NUM_KEYPOINTS, 3), np.float32)


def labelled(people, size):
    """Boolean ``(N, 18)``: keypoints with v > 0, finite, inside an image of ``size`` (H, W)."""
    p = np.asarray(people, dtype=np.float64).reshape(-1, NUM_KEYPOINTS, 3)
    h, w = size
    with np.errstate(invalid="ignore"):
        return ((p[..., 2] > 0) & np.isfinite(p[..., 0]) & np.isfinite(p[..., 1])
                & (p[..., 0] >= 0) & (p[..., 0] <= w - 1) & (p[..., 1] >= 0) & (p[..., 1] <= h - 1))


def _grid(n, stride):
    return (np.arange(n, dtype=np.float64) + 0.5) * stride - 0.5


def render_heatmaps(people, size, stride, sigma=7.0):
    """``(18, H/stride, W/stride)`` keypoint heatmaps (no background channel)."""
    h, w = size
    gy, gx = _grid(h // stride, stride), _grid(w // stride, stride)
    heat = np.zeros((NUM_KEYPOINTS, len(gy), len(gx)), dtype=np.float64)
    p = np.asarray(people, dtype=np.float64).reshape(-1, NUM_KEYPOINTS, 3)
    vis = labelled(p, size)
    for i, k in zip(*np.nonzero(vis)):
        x, y = p[i, k, 0], p[i, k, 1]
        g = np.exp(-0.5 * ((gy - y) / sigma) ** 2)[:, None] * np.exp(-0.5 * ((gx - x) / sigma) ** 2)[None, :]
        np.maximum(heat[k], g, out=heat[k])
    heat[heat < 1e-4] = 0.0  # a network's far tails are noise, not 1e-40 (denormals slow float maths)
    return heat


def render_pafs(people, size, stride, limb_parts, limb_width=8.0):
    """``(L, 2, H/stride, W/stride)`` PAFs: per limb the x and y components."""
    h, w = size
    gy, gx = _grid(h // stride, stride), _grid(w // stride, stride)
    n_limbs = len(limb_parts)
    acc = np.zeros((n_limbs, 2, len(gy), len(gx)), dtype=np.float64)
    cnt = np.zeros((n_limbs, len(gy), len(gx)), dtype=np.float64)
    p = np.asarray(people, dtype=np.float64).reshape(-1, NUM_KEYPOINTS, 3)
    vis = labelled(p, size)
    for i in range(len(p)):
        for k, (ka, kb) in enumerate(limb_parts):
            if not (vis[i, ka] and vis[i, kb]):
                continue
            a, b = p[i, ka, :2], p[i, kb, :2]
            d = b - a
            length = math.hypot(d[0], d[1])
            if length < 1e-6:
                continue
            u = d / length
            x0, x1 = min(a[0], b[0]) - limb_width, max(a[0], b[0]) + limb_width
            y0, y1 = min(a[1], b[1]) - limb_width, max(a[1], b[1]) + limb_width
            xs = np.nonzero((gx >= x0) & (gx <= x1))[0]
            ys = np.nonzero((gy >= y0) & (gy <= y1))[0]
            if len(xs) == 0 or len(ys) == 0:
                continue
            rx = gx[xs][None, :] - a[0]
            ry = gy[ys][:, None] - a[1]
            along = rx * u[0] + ry * u[1]
            across = np.abs(rx * u[1] - ry * u[0])
            band = (along >= -limb_width) & (along <= length + limb_width) & (across <= limb_width)
            sl = (slice(ys[0], ys[-1] + 1), slice(xs[0], xs[-1] + 1))
            acc[k, 0][sl] += band * u[0]
            acc[k, 1][sl] += band * u[1]
            cnt[k][sl] += band
    acc /= np.maximum(cnt, 1)[:, None]
    return acc


def render_maps(profile, people, size=None, sigma=7.0, limb_width=8.0, layout=None, batch=True,
                dtype=np.float32):
    """Ground-truth outputs for ``people`` in the profile's layout: ``{output name: array}``.

    size: network input (H, W), default the profile's; sigma: heatmap Gaussian, input pixels;
    limb_width: PAF half-width, input pixels; layout: "NHWC"/"NCHW", default the profile's;
    batch: add the leading batch dimension of 1.
    """
    size = tuple(size or profile.input.size)
    layout = layout or profile.outputs.layout
    hspec, pspec = profile.outputs.heatmap, profile.outputs.paf
    heat = render_heatmaps(people, size, hspec.stride, sigma)
    paf = render_pafs(people, size, pspec.stride, profile.limb_parts.tolist(), limb_width)
    chans = profile.limb_channels
    n_heat = hspec.channel_offset + NUM_KEYPOINTS
    if hspec.background is not None:
        n_heat = max(n_heat, hspec.background + 1)
    tensors = {}

    def tensor(name, stride, n_channels):
        if name not in tensors:
            tensors[name] = np.zeros((n_channels, size[0] // stride, size[1] // stride), dtype=np.float64)
        return tensors[name]

    same = hspec.name == pspec.name
    n_paf = int(chans.max()) + 1
    ht = tensor(hspec.name, hspec.stride, max(n_heat, n_paf) if same else n_heat)
    o = hspec.channel_offset
    ht[o:o + NUM_KEYPOINTS] = heat
    if hspec.background is not None:
        ht[hspec.background] = np.clip(1.0 - heat.max(axis=0), 0.0, 1.0)
    pt = tensor(pspec.name, pspec.stride, n_paf)
    for k, (cx, cy) in enumerate(chans.tolist()):
        pt[cx] = paf[k, 0]
        pt[cy] = paf[k, 1]
    out = {}
    for name, arr in tensors.items():
        arr = arr.astype(dtype)
        if layout == "NHWC":
            arr = arr.transpose(1, 2, 0)
        arr = np.ascontiguousarray(arr)
        out[name] = arr[None] if batch else arr
    return out
