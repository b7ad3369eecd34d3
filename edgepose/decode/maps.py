"""The network's outputs for one image -> the heatmaps and PAF the decoder reads, validated.

The profile says which output holds the heatmaps and which the PAF (they may be the same tensor,
as in the tf-pose family, or two tensors at different strides, as in TAO BodyPoseNet), their layout
and strides. ``extract_maps`` checks names, shapes, strides and values and returns a ``MapSet``:

- ``heat``: ``(18, Hh, Wh)`` float32, C-contiguous, the keypoint heatmaps (background dropped);
- ``paf``: the PAF output as a flat float32 array, read through element strides (no copy, no
  transpose, whatever the layout), with its map size ``(Hp, Wp)``;
- the strides of both and the network-input size they cover.
"""
from collections.abc import Mapping
from typing import NamedTuple, Tuple

import numpy as np

from ..errors import InputError
from ..topology import NUM_KEYPOINTS


class MapSet(NamedTuple):
    heat: np.ndarray            # (18, Hh, Wh) float32 contiguous
    heat_stride: int
    paf: np.ndarray             # flat float32 view of the PAF output of one image
    paf_shape: Tuple[int, int]  # (Hp, Wp)
    paf_strides: Tuple[int, int, int]  # element strides of (y, x, channel) in ``paf``
    paf_stride: int
    input_size: Tuple[int, int]  # (H, W) of the network input the maps cover


def _one_image(outputs, name, what, index, layout):
    """The ``(3-D array, batch size)`` of output ``name`` for image ``index`` (None: a single image)."""
    if name not in outputs:
        raise InputError("decode: %s output %r missing from the network outputs (got %s); check the profile's "
                         "outputs.%s.name" % (what, name, sorted(outputs), what))
    arr = outputs[name]
    if not isinstance(arr, np.ndarray):
        arr = np.asarray(arr)
    if arr.ndim == 4:
        n = arr.shape[0]
        if index is None:
            if n != 1:
                raise InputError("decode: %s output %r holds a batch of %d images; use decode_batch()"
                                 % (what, name, n))
            index = 0
        arr = arr[index]
    elif arr.ndim != 3 or index not in (None, 0):
        expected = "(H, W, C)" if layout == "NHWC" else "(C, H, W)"
        raise InputError("decode: %s output %r has shape %s, expected %s with an optional leading batch dimension"
                         % (what, name, tuple(np.shape(outputs[name])), expected))
    if arr.dtype != np.float32:
        if arr.dtype.kind not in "fiu":
            raise InputError("decode: %s output %r has dtype %s, expected floats" % (what, name, arr.dtype))
        arr = arr.astype(np.float32)
    return arr


def batch_size(outputs, profile):
    """Number of images in the outputs (1 for outputs without a batch dimension)."""
    if not isinstance(outputs, Mapping):
        raise InputError("decode: outputs must be a dict of output name -> array, got %s" % type(outputs).__name__)
    name = profile.outputs.heatmap.name
    if name not in outputs:
        raise InputError("decode: heatmap output %r missing from the network outputs (got %s); check the profile's "
                         "outputs.heatmap.name" % (name, sorted(outputs)))
    shape = np.shape(outputs[name])
    n = int(shape[0]) if len(shape) == 4 else 1
    pname = profile.outputs.paf.name
    if pname != name and pname in outputs:
        pshape = np.shape(outputs[pname])
        m = int(pshape[0]) if len(pshape) == 4 else 1
        if m != n:
            raise InputError("decode: heatmap output %r holds %d image(s) but paf output %r holds %d"
                             % (name, n, pname, m))
    return n


def _check_finite(arr, what, name):
    # One memory-bound pass, no temporary: the sum of squares is NaN/Inf when any value is NaN or
    # +-Inf (or so large that no sane map holds it).
    flat = arr.reshape(-1)
    if not np.isfinite(np.dot(flat, flat)):
        raise InputError("decode: %s output %r contains NaN, Inf or absurdly large values (a broken model, "
                         "engine or input?)" % (what, name))


def extract_maps(outputs, profile, index=None):
    """Validate the outputs of one image (``index`` in a batch, or None) and return a ``MapSet``."""
    if not isinstance(outputs, Mapping):
        raise InputError("decode: outputs must be a dict of output name -> array, got %s" % type(outputs).__name__)
    layout = profile.outputs.layout
    hspec, pspec = profile.outputs.heatmap, profile.outputs.paf
    harr = _one_image(outputs, hspec.name, "heatmap", index, layout)
    same = pspec.name == hspec.name
    parr = harr if same else _one_image(outputs, pspec.name, "paf", index, layout)

    if layout == "NHWC":
        hh, hw, hc = harr.shape
        ph, pw, pc = parr.shape
    else:
        hc, hh, hw = harr.shape
        pc, ph, pw = parr.shape
    need_h = hspec.channel_offset + NUM_KEYPOINTS
    if hspec.background is not None:
        need_h = max(need_h, hspec.background + 1)
    if hc < need_h:
        raise InputError("decode: heatmap output %r has %d channels (layout %s, shape %s), the profile needs %d"
                         % (hspec.name, hc, layout, harr.shape, need_h))
    need_p = int(profile.limb_channels.max()) + 1
    if pc < need_p:
        raise InputError("decode: paf output %r has %d channels (layout %s, shape %s), the profile uses channel %d"
                         % (pspec.name, pc, layout, parr.shape, need_p - 1))
    if min(hh, hw, ph, pw) < 2:
        raise InputError("decode: maps of %dx%d (heatmap %r) and %dx%d (paf %r) are too small to hold a pose"
                         % (hh, hw, hspec.name, ph, pw, pspec.name))
    sh, sp = hspec.stride, pspec.stride
    if (hh * sh, hw * sh) != (ph * sp, pw * sp):
        raise InputError("decode: heatmap %dx%d at stride %d covers %dx%d input pixels but PAF %dx%d at stride %d "
                         "covers %dx%d; check the profile's output strides"
                         % (hh, hw, sh, hh * sh, hw * sh, ph, pw, sp, ph * sp, pw * sp))

    # Heatmaps: the 18 keypoint channels as (18, H, W), contiguous (small: a copy is cheap).
    o = hspec.channel_offset
    if layout == "NHWC":
        heat = np.ascontiguousarray(harr[:, :, o:o + NUM_KEYPOINTS].transpose(2, 0, 1))
    else:
        heat = np.ascontiguousarray(harr[o:o + NUM_KEYPOINTS])
    _check_finite(heat, "heatmap", hspec.name)

    # PAF: read in place through element strides (a contiguous view; no transpose of a large map).
    pflat = np.ascontiguousarray(parr)
    _check_finite(pflat, "paf", pspec.name)
    if layout == "NHWC":
        strides = (pw * pc, pc, 1)
    else:
        strides = (pw, 1, ph * pw)
    return MapSet(heat, sh, pflat.reshape(-1), (ph, pw), strides, sp, (hh * sh, hw * sh))
