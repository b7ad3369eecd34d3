"""Ground-truth heatmaps and PAFs for known keypoints: the one renderer of what a perfect network outputs.

Used for the training targets of the bundled model (``tools/targets.py`` re-exports these functions),
the decoder tests' maps (``tests/maps.py``), the decode benchmark and ``edgepose eval --oracle``.
The bundled model was trained on exactly these maps, so the conventions below are part of its
contract; change them only together with a retrained model.

- Keypoints: ``(N, 18, 3)`` x, y, v in network-input pixels (pixel centres at integers); a keypoint is
  drawn when v > 0 (occluded ones included, as COCO labels them) and x, y are finite.
- Grid: cell ``j`` of a map at stride ``s`` sits at input coordinate ``(j + 0.5) * s - 0.5``.
- Heatmaps ``(19, H/s, W/s)``: channel k = the maximum over people of ``exp(-d^2 / (2 sigma^2))``
  around keypoint k (``sigma`` in input pixels, as passed), zero beyond ``3 sigma`` along either axis;
  channel 18 is the background ``clip(1 - max over keypoint channels, 0, 1)``.
- PAFs ``(2L, H/s, W/s)``: limb k (``edgepose.topology.LIMB_INDEX`` order unless other limbs are
  given) -> channels 2k (x), 2k+1 (y): the unit vector from its first part to its second at every cell
  with ``|across| <= limb_width`` and ``along`` in ``[-limb_width / 2, length + limb_width / 2]``
  (input pixels, measured from the first part along the limb); where limbs of several people
  overlap, their vectors are averaged (OpenPose's rule).

``render_maps(profile, people)`` lays these maps out as a model of that profile outputs them (one or
two tensors, NHWC or NCHW, the profile's channel order and strides); with ``paf_from_stride`` the PAF is
drawn at that stride and repeated up to the profile's PAF stride, as TAO's deployable export does with
its nearest-neighbour ConvTranspose (stride 8 -> 2). It treats keypoints outside the image as not
labelled (what a camera cannot see, as COCO annotators do), so a person cut by the border leaves no
tails at the edge; the training targets keep whatever the caller labels.
"""
import numpy as np

from ..topology import FLIP_INDEX, LIMB_INDEX, NUM_KEYPOINTS

__all__ = ["grid", "render_heatmaps", "render_pafs", "flip_keypoints", "labelled", "render_maps"]


def grid(size, stride):
    """Cell-centre coordinates ``(xs (w,), ys (h,))`` in input pixels for an input of ``size`` (H, W)."""
    h, w = int(size[0]) // int(stride), int(size[1]) // int(stride)
    xs = (np.arange(w, dtype=np.float32) + 0.5) * stride - 0.5
    ys = (np.arange(h, dtype=np.float32) + 0.5) * stride - 0.5
    return xs, ys


def _as_people(keypoints):
    return np.asarray(keypoints, dtype=np.float32).reshape(-1, NUM_KEYPOINTS, 3)


def _drawn(kps):
    """Boolean ``(N, 18)``: the keypoints the maps show (v > 0, finite x and y)."""
    with np.errstate(invalid="ignore"):
        return (kps[..., 2] > 0) & np.isfinite(kps[..., 0]) & np.isfinite(kps[..., 1])


def render_heatmaps(keypoints, size, stride=8, sigma=6.0):
    """``keypoints (N, 18, 3)`` x, y, v in input pixels -> ``(19, H/stride, W/stride)`` float32 heatmaps."""
    xs, ys = grid(size, stride)
    out = np.zeros((NUM_KEYPOINTS + 1, len(ys), len(xs)), dtype=np.float32)
    kps = _as_people(keypoints)
    inv = np.float32(1.0 / (2.0 * float(sigma) ** 2))
    cut = 3.0 * float(sigma)
    for i, k in zip(*np.nonzero(_drawn(kps))):
        x, y = kps[i, k, 0], kps[i, k, 1]
        # only the window within 3 sigma is touched (cheap for many people)
        cx = np.flatnonzero(np.abs(xs - x) <= cut)
        cy = np.flatnonzero(np.abs(ys - y) <= cut)
        if len(cx) == 0 or len(cy) == 0:
            continue
        gx = np.exp(-np.square(xs[cx] - x) * inv)
        gy = np.exp(-np.square(ys[cy] - y) * inv)
        win = out[k, cy[0]:cy[-1] + 1, cx[0]:cx[-1] + 1]
        np.maximum(win, gy[:, None] * gx[None, :], out=win)
    out[NUM_KEYPOINTS] = np.clip(1.0 - out[:NUM_KEYPOINTS].max(axis=0), 0.0, 1.0)
    return out


def render_pafs(keypoints, size, stride=8, limb_width=8.0, limbs=LIMB_INDEX):
    """``keypoints (N, 18, 3)`` in input pixels -> ``(2 L, H/stride, W/stride)`` float32 PAF bands.

    limbs: ``(L, 2)`` keypoint indices of each limb's first and second part (default: BodyPoseNet's 19).
    """
    xs, ys = grid(size, stride)
    limbs = np.asarray(limbs, dtype=np.int64).reshape(-1, 2)
    out = np.zeros((2 * len(limbs), len(ys), len(xs)), dtype=np.float32)
    count = np.zeros((len(limbs), len(ys), len(xs)), dtype=np.float32)
    kps = _as_people(keypoints)
    drawn = _drawn(kps)
    lw = float(limb_width)
    for i in range(len(kps)):
        for k, (ka, kb) in enumerate(limbs.tolist()):
            if not (drawn[i, ka] and drawn[i, kb]):
                continue
            a = kps[i, ka, :2]
            d = kps[i, kb, :2] - a  # float32 throughout, as the bundled model's targets were made
            length = float(np.hypot(d[0], d[1]))
            if length < 1e-3:
                continue
            (ax, ay), (dx, dy), (ux, uy) = a, d, d / length
            # the band's bounding box: the segment, widened by its corners' reach along each axis
            mx = 0.5 * lw * abs(ux) + lw * abs(uy) + 1.0
            my = 0.5 * lw * abs(uy) + lw * abs(ux) + 1.0
            x0, x1 = min(ax, ax + dx) - mx, max(ax, ax + dx) + mx
            y0, y1 = min(ay, ay + dy) - my, max(ay, ay + dy) + my
            cx = np.flatnonzero((xs >= x0) & (xs <= x1))
            cy = np.flatnonzero((ys >= y0) & (ys <= y1))
            if len(cx) == 0 or len(cy) == 0:
                continue
            rx = xs[cx][None, :] - ax
            ry = ys[cy][:, None] - ay
            along = rx * ux + ry * uy
            band = ((along >= -0.5 * lw) & (along <= length + 0.5 * lw)
                    & (np.abs(rx * uy - ry * ux) <= lw))
            if not band.any():
                continue
            win = (slice(cy[0], cy[-1] + 1), slice(cx[0], cx[-1] + 1))
            out[2 * k][win] += band * ux
            out[2 * k + 1][win] += band * uy
            count[k][win] += band
    out /= np.repeat(np.maximum(count, 1.0), 2, axis=0)
    return out


def flip_keypoints(keypoints, width):
    """Keypoints of a horizontally flipped image of ``width`` pixels (left/right parts swapped)."""
    kps = np.array(keypoints, dtype=np.float32, copy=True).reshape(-1, NUM_KEYPOINTS, 3)
    kps[..., 0] = (width - 1) - kps[..., 0]
    return kps[:, FLIP_INDEX]


def labelled(people, size):
    """Boolean ``(N, 18)``: keypoints with v > 0, finite, on an image of ``size`` (H, W) (its pixels'
    extent: -0.5 <= x < W - 0.5, as the synthetic annotations count a keypoint in the image)."""
    p = np.asarray(people, dtype=np.float64).reshape(-1, NUM_KEYPOINTS, 3)
    h, w = size
    with np.errstate(invalid="ignore"):
        return (_drawn(p) & (p[..., 0] >= -0.5) & (p[..., 0] < w - 0.5) & (p[..., 1] >= -0.5)
                & (p[..., 1] < h - 0.5))


def render_maps(profile, people, size=None, sigma=6.0, limb_width=8.0, paf_from_stride=None, layout=None,
                batch=True, dtype=np.float32):
    """Ground-truth outputs for ``people`` in the profile's layout: ``{output name: array}``.

    people: ``(N, 18, 3)`` in network-input pixels; keypoints outside the image count as not labelled.
    size: network input (H, W), default the profile's; sigma: heatmap Gaussian, input pixels;
    limb_width: PAF half-width, input pixels; paf_from_stride: draw the PAF at this (coarser) stride and
    repeat each cell up to the profile's PAF stride (default: draw it at the PAF stride);
    layout: "NHWC"/"NCHW", default the profile's; batch: add the leading batch dimension of 1.
    """
    size = tuple(int(v) for v in (size or profile.input.size))
    layout = layout or profile.outputs.layout
    hspec, pspec = profile.outputs.heatmap, profile.outputs.paf
    kps = np.array(_as_people(people), copy=True)
    kps[~labelled(kps, size), 2] = 0
    heat = render_heatmaps(kps, size, hspec.stride, sigma)
    draw_stride = int(paf_from_stride or pspec.stride)
    if draw_stride % pspec.stride:
        raise ValueError("render_maps: paf_from_stride %d is not a multiple of the PAF stride %d"
                         % (draw_stride, pspec.stride))
    paf = render_pafs(kps, size, draw_stride, limb_width, profile.limb_parts)
    rep = draw_stride // pspec.stride
    if rep > 1:
        paf = paf.repeat(rep, axis=1).repeat(rep, axis=2)
        # an input size that is not a multiple of the coarse stride: the last cells repeated to the edge
        hp, wp = size[0] // pspec.stride, size[1] // pspec.stride
        paf = np.pad(paf, ((0, 0), (0, hp - paf.shape[1]), (0, wp - paf.shape[2])), mode="edge")
    chans = profile.limb_channels
    n_heat = hspec.channel_offset + NUM_KEYPOINTS
    if hspec.background is not None:
        n_heat = max(n_heat, hspec.background + 1)
    tensors = {}

    def tensor(name, stride, n_channels):
        if name not in tensors:
            tensors[name] = np.zeros((n_channels, size[0] // stride, size[1] // stride), dtype=np.float32)
        return tensors[name]

    n_paf = int(chans.max()) + 1
    ht = tensor(hspec.name, hspec.stride, max(n_heat, n_paf) if hspec.name == pspec.name else n_heat)
    o = hspec.channel_offset
    ht[o:o + NUM_KEYPOINTS] = heat[:NUM_KEYPOINTS]
    if hspec.background is not None:
        ht[hspec.background] = heat[NUM_KEYPOINTS]
    pt = tensor(pspec.name, pspec.stride, n_paf)
    pt[chans[:, 0]] = paf[0::2]
    pt[chans[:, 1]] = paf[1::2]
    out = {}
    for name, arr in tensors.items():
        arr = arr.astype(dtype, copy=False)
        if layout == "NHWC":
            arr = arr.transpose(1, 2, 0)
        arr = np.ascontiguousarray(arr)
        out[name] = arr[None] if batch else arr
    return out
