"""Training-side augmentation and targets in PyTorch, on whatever device the batch lives on (GPU or CPU).

A batch of rendered frames (uint8 BGR, all the same size) and their keypoints becomes network inputs and
BPNet targets in a few tensor operations, so that one rendered frame can be reused many times with a
different view each time and no per-sample Python work:

- ``plan_views``: per sample, an affine view of its frame: the whole frame letterboxed as at inference (with
  a little scale and shift jitter), or a zoom centred on one person (chosen by priority: lying and fallen
  people first) at a random height, a small rotation, a horizontal flip;
- ``warp``: the views as one ``grid_sample`` (bilinear, zero padding = the letterbox padding), colour jitter,
  BGR -> RGB and TAO's normalisation (pixel / 256 - 0.5), NCHW;
- ``heatmap_targets`` / ``paf_targets``: exactly the maps of ``edgepose.synth.targets`` (the numpy renderer
  shared with the oracle and the test maps: same grid, Gaussian, PAF band and averaging rule), checked
  against it in tests.

Keypoints are ``(B, P, 18, 3)`` x, y, v in source pixels (v 0 = not labelled, 1 = occluded, 2 = visible;
x, y finite wherever v > 0). Training-only code: the installed package never imports torch.
"""
import math

import numpy as np
import torch
import torch.nn.functional as F

from edgepose.topology import FLIP_INDEX, LIMB_INDEX, NUM_KEYPOINTS

_FLIP = torch.as_tensor(np.asarray(FLIP_INDEX), dtype=torch.long)
_LIMBS = torch.as_tensor(np.asarray(LIMB_INDEX), dtype=torch.long)


def _grid(size, stride, device):
    h, w = size[0] // stride, size[1] // stride
    xs = (torch.arange(w, device=device, dtype=torch.float32) + 0.5) * stride - 0.5
    ys = (torch.arange(h, device=device, dtype=torch.float32) + 0.5) * stride - 0.5
    return xs, ys


def letterbox_affine(src_size, out_size):
    """(scale, offset x, offset y) of the inference letterbox (``edgepose.preprocess.compute_transform``):
    ``out = src * scale + offset`` in OpenCV's pixel-centre convention."""
    sh, sw = src_size
    oh, ow = out_size
    s = min(oh / sh, ow / sw)
    new_w, new_h = int(round(sw * s)), int(round(sh * s))
    sx, sy = new_w / sw, new_h / sh
    pad_x, pad_y = (ow - new_w) // 2, (oh - new_h) // 2
    # net + 0.5 = (src + 0.5) * scale + pad; the two axes' scales differ by rounding only: use their mean
    s = 0.5 * (sx + sy)
    return s, 0.5 * s - 0.5 + pad_x, 0.5 * s - 0.5 + pad_y


def plan_views(kps, priority, src_size, out_size, generator=None, p_person=0.6, p_rotate=0.3, max_rot_deg=12.0,
               p_flip=0.5, person_px=(36.0, None), frame_jitter=(0.85, 1.2)):
    """Per sample an affine ``A (B, 2, 3)`` mapping output pixels to source pixels, and a flip flag ``(B,)``.

    ``priority (B, P)``: weight of each person for person-centred views (0: absent). With probability
    ``p_person`` (and at least one person) the view is centred on a person drawn by priority, scaled so that
    the person's keypoint extent spans a log-uniform height between ``person_px[0]`` and ``person_px[1]``
    (default 0.9 x the output height) output pixels; otherwise the whole frame is letterboxed as at
    inference, scaled by a factor in ``frame_jitter`` and shifted a little.
    """
    dev = kps.device
    B, P = kps.shape[:2]
    oh, ow = out_size

    def rand(*shape):
        return torch.rand(*shape, device=dev, generator=generator)

    s0, ox0, oy0 = letterbox_affine(src_size, out_size)
    # frame views: the letterbox, jittered (scale about the output centre, then a shift)
    lo, hi = frame_jitter
    js = torch.exp(math.log(lo) + rand(B) * (math.log(hi) - math.log(lo)))
    scale = s0 * js
    cx_src = torch.full((B,), (src_size[1] - 1) / 2.0, device=dev) + (rand(B) - 0.5) * 0.2 * src_size[1]
    cy_src = torch.full((B,), (src_size[0] - 1) / 2.0, device=dev) + (rand(B) - 0.5) * 0.2 * src_size[0]
    # person views
    valid = kps[..., 2] > 0                                                    # (B, P, 18)
    big = torch.finfo(torch.float32).max
    xs = torch.where(valid, kps[..., 0], torch.full_like(kps[..., 0], big))
    ys = torch.where(valid, kps[..., 1], torch.full_like(kps[..., 1], big))
    x0, y0 = xs.min(-1).values, ys.min(-1).values
    xs = torch.where(valid, kps[..., 0], torch.full_like(kps[..., 0], -big))
    ys = torch.where(valid, kps[..., 1], torch.full_like(kps[..., 1], -big))
    x1, y1 = xs.max(-1).values, ys.max(-1).values
    has = valid.sum(-1) >= 2
    pr = torch.where(has, priority.float(), torch.zeros_like(priority, dtype=torch.float32))
    any_person = pr.sum(-1) > 0
    pick = torch.multinomial(torch.where(any_person[:, None], pr, torch.ones_like(pr)), 1,
                             generator=generator).squeeze(1)
    ar = torch.arange(B, device=dev)
    px0, py0, px1, py1 = x0[ar, pick], y0[ar, pick], x1[ar, pick], y1[ar, pick]
    ext = torch.maximum(py1 - py0, px1 - px0).clamp(min=4.0)
    top = person_px[1] if person_px[1] else 0.9 * oh
    want = torch.exp(math.log(person_px[0]) + rand(B) * (math.log(top) - math.log(person_px[0])))
    p_scale = want / ext
    p_cx = (px0 + px1) / 2 + (rand(B) - 0.5) * 0.6 * (px1 - px0 + 8)
    p_cy = (py0 + py1) / 2 + (rand(B) - 0.5) * 0.6 * (py1 - py0 + 8)
    use_p = (rand(B) < p_person) & any_person
    scale = torch.where(use_p, p_scale, scale)
    cx_src = torch.where(use_p, p_cx, cx_src)
    cy_src = torch.where(use_p, p_cy, cy_src)
    # rotation and flip
    ang = torch.where(rand(B) < p_rotate, (rand(B) * 2 - 1) * max_rot_deg * math.pi / 180.0, torch.zeros(B, device=dev))
    flip = rand(B) < p_flip
    # output -> source: src = c_src + R(-ang) * ((out - c_out) * fx) / scale
    c, s = torch.cos(ang), torch.sin(ang)
    fx = torch.where(flip, -torch.ones(B, device=dev), torch.ones(B, device=dev))
    cxo, cyo = (ow - 1) / 2.0, (oh - 1) / 2.0
    inv = 1.0 / scale
    a00, a01 = c * fx * inv, s * inv
    a10, a11 = -s * fx * inv, c * inv
    A = torch.stack([torch.stack([a00, a01, cx_src - a00 * cxo - a01 * cyo], -1),
                     torch.stack([a10, a11, cy_src - a10 * cxo - a11 * cyo], -1)], 1)
    return A, flip


def letterbox_views(batch, src_size, out_size, device):
    """The inference letterbox as ``plan_views`` output (no augmentation): ``A (B, 2, 3)``, no flips."""
    s, ox, oy = letterbox_affine(src_size, out_size)
    A = torch.tensor([[1.0 / s, 0.0, -ox / s], [0.0, 1.0 / s, -oy / s]], device=device)
    return A.expand(batch, 2, 3).contiguous(), torch.zeros(batch, dtype=torch.bool, device=device)


def transform_keypoints(kps, A, flip, out_size):
    """Keypoints in source pixels -> output pixels of the views (inverse of ``A``); flipped views swap
    left and right parts. Keypoints that land outside the output become unlabelled (v = 0)."""
    M = torch.cat([A, torch.tensor([0.0, 0.0, 1.0], device=A.device).expand(A.shape[0], 1, 3)], 1)
    Minv = torch.linalg.inv(M)[:, :2]                                      # (B, 2, 3) source -> output
    xy1 = torch.cat([torch.nan_to_num(kps[..., :2]), torch.ones_like(kps[..., :1])], -1)  # (B, P, 18, 3)
    out_xy = torch.einsum("bij,bpkj->bpki", Minv, xy1)
    v = kps[..., 2].clone()
    oh, ow = out_size
    inside = (out_xy[..., 0] >= -0.5) & (out_xy[..., 0] < ow - 0.5) & (out_xy[..., 1] >= -0.5) & \
             (out_xy[..., 1] < oh - 0.5)
    v = torch.where(inside, v, torch.zeros_like(v))
    out = torch.cat([out_xy, v[..., None]], -1)
    if flip.any():
        flipped = out[:, :, _FLIP.to(out.device)]
        out = torch.where(flip[:, None, None, None], flipped, out)
    return out


def warp(images, A, out_size, generator=None, color_jitter=True):
    """uint8 BGR ``(B, H, W, 3)`` + views ``A`` -> float32 network input ``(B, 3, h, w)`` RGB, pixel/256 - 0.5."""
    B, H, W = images.shape[:3]
    oh, ow = out_size
    dev = images.device
    ys, xs = torch.meshgrid(torch.arange(oh, device=dev, dtype=torch.float32),
                            torch.arange(ow, device=dev, dtype=torch.float32), indexing="ij")
    pts = torch.stack([xs, ys, torch.ones_like(xs)], -1).reshape(1, -1, 3)          # (1, hw, 3)
    src = torch.einsum("bij,bnj->bni", A, pts.expand(B, -1, -1))                    # (B, hw, 2) source pixels
    gx = (2.0 * src[..., 0] + 1.0) / W - 1.0
    gy = (2.0 * src[..., 1] + 1.0) / H - 1.0
    grid = torch.stack([gx, gy], -1).reshape(B, oh, ow, 2)
    x = images.permute(0, 3, 1, 2).float()
    x = x[:, [2, 1, 0]]                                                            # BGR -> RGB
    out = F.grid_sample(x, grid, mode="bilinear", padding_mode="zeros", align_corners=False)
    if color_jitter:
        def rand(*shape):
            return torch.rand(*shape, device=dev, generator=generator)
        gain = 0.7 + 0.6 * rand(B, 1, 1, 1)
        bias = (rand(B, 1, 1, 1) - 0.5) * 40.0
        tint = 1.0 + (rand(B, 3, 1, 1) - 0.5) * 0.16
        inside = (grid.abs() <= 1.0).all(-1)[:, None]                              # keep the padding at 0
        out = torch.where(inside, (out * gain * tint + bias).clamp(0, 255), out)
        gray = rand(B) < 0.1
        if gray.any():
            g = out.mean(1, keepdim=True).expand_as(out)
            out = torch.where(gray[:, None, None, None], g, out)
    return out * (1.0 / 256.0) - 0.5


def heatmap_targets(kps, out_size, stride=8, sigma=8.0):
    """``(B, 19, h/stride, w/stride)``: per keypoint channel the max over people of the Gaussians around
    labelled keypoints (v > 0, cut at 3 sigma as the numpy renderer), channel 18 the background; and the
    same maps from visible keypoints only (v = 2), for loss emphasis."""
    xs, ys = _grid(out_size, stride, kps.device)
    x = kps[..., 0][..., None, None]
    y = kps[..., 1][..., None, None]
    dx2 = (xs.view(1, 1, 1, 1, -1) - x) ** 2
    dy2 = (ys.view(1, 1, 1, -1, 1) - y) ** 2
    cut = (3.0 * sigma) ** 2
    g = torch.exp(-(dx2 + dy2) / (2.0 * sigma * sigma))
    g = g * ((dx2 <= cut) & (dy2 <= cut)).float()
    lab = (kps[..., 2] > 0).float()[..., None, None]
    vis = (kps[..., 2] > 1).float()[..., None, None]
    heat = (g * lab).amax(1)                                                       # (B, 18, h, w)
    emph = (g * vis).amax(1)
    bg = (1.0 - heat.amax(1, keepdim=True)).clamp(0.0, 1.0)
    return torch.cat([heat, bg], 1), emph


def paf_targets(kps, out_size, stride=8, limb_width=8.0):
    """``(B, 38, h/stride, w/stride)`` PAF bands: limb k -> channels 2k, 2k+1, the unit vector at cells within
    ``limb_width`` across and ``limb_width / 2`` beyond the ends; overlapping people averaged."""
    xs, ys = _grid(out_size, stride, kps.device)
    L = _LIMBS.to(kps.device)
    pa, pb = kps[:, :, L[:, 0]], kps[:, :, L[:, 1]]                                 # (B, P, 19, 3)
    ok = (pa[..., 2] > 0) & (pb[..., 2] > 0)
    d = pb[..., :2] - pa[..., :2]
    length = torch.sqrt((d ** 2).sum(-1))
    ok = ok & (length >= 1e-3)
    u = d / length.clamp(min=1e-3)[..., None]
    ux, uy = u[..., 0][..., None, None], u[..., 1][..., None, None]
    rx = xs.view(1, 1, 1, 1, -1) - pa[..., 0][..., None, None]
    ry = ys.view(1, 1, 1, -1, 1) - pa[..., 1][..., None, None]
    along = rx * ux + ry * uy
    across = (rx * uy - ry * ux).abs()
    ln = length[..., None, None]
    mask = (along >= -limb_width * 0.5) & (along <= ln + limb_width * 0.5) & (across <= limb_width)
    mask = (mask & ok[..., None, None]).float()                                    # (B, P, 19, h, w)
    count = mask.sum(1)
    vx = (mask * ux).sum(1) / count.clamp(min=1.0)
    vy = (mask * uy).sum(1) / count.clamp(min=1.0)
    B, _, h, w = vx.shape
    return torch.stack([vx, vy], 2).reshape(B, 2 * len(LIMB_INDEX), h, w)


def make_batch(images, kps, priority, out_size, stride=8, sigma=8.0, limb_width=8.0, augment=True,
               generator=None, **view_options):
    """Inputs and targets for one training batch: ``(x, heat, paf, emph)`` (see the module doc)."""
    src_size = tuple(images.shape[1:3])
    if augment:
        A, flip = plan_views(kps, priority, src_size, out_size, generator=generator, **view_options)
    else:
        A, flip = letterbox_views(images.shape[0], src_size, out_size, images.device)
    x = warp(images, A, out_size, generator=generator, color_jitter=augment)
    k = transform_keypoints(kps, A, flip, out_size)
    heat, emph = heatmap_targets(k, out_size, stride, sigma)
    paf = paf_targets(k, out_size, stride, limb_width)
    return x, heat, paf, emph, k


__all__ = ["heatmap_targets", "letterbox_views", "make_batch", "paf_targets", "plan_views", "transform_keypoints",
           "warp", "NUM_KEYPOINTS"]
