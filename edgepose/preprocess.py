"""Frame -> network input, and network-input coordinates -> source-image coordinates.

One function, ``preprocess``, used by inference, INT8 calibration and evaluation alike, so that
calibration sees exactly what inference sees. The profile says the size, resize mode (letterbox with
symmetric padding, or stretch), colour order, scale/offset and layout.

A profile with ``input.dtype: uint8`` (``tao-bpnet-u8``) moves colour order and scale/offset into the
network (``edgepose.onnxfront``): the host then only resizes and letterboxes the BGR frame, straight into
the (pinned) uint8 input buffer, and the graph computes the very numbers the float path writes.
"""
import threading
from dataclasses import dataclass

import numpy as np

from . import deps
from .errors import InputError

_INTERP = {"linear": 1, "cubic": 2, "area": 3}  # cv2.INTER_LINEAR / INTER_CUBIC / INTER_AREA


@dataclass(frozen=True)
class Transform:
    """How a source image was mapped into the network input.

    Coordinates follow OpenCV's convention (pixel centres at integer coordinates), so the mapping
    is ``net + 0.5 = (src + 0.5) * scale + pad``. scale_x/scale_y: network pixels per source pixel;
    pad_x/pad_y: left/top padding in network pixels; src_w/src_h: source image size; net_w/net_h:
    network input size.
    """

    scale_x: float
    scale_y: float
    pad_x: float
    pad_y: float
    src_w: int
    src_h: int
    net_w: int
    net_h: int

    def to_source(self, points):
        """Map ``(..., >=2)`` network-input x, y to source-image x, y (other columns unchanged; NaN stays NaN)."""
        out = np.array(points, dtype=np.float32, copy=True)
        out[..., 0] = (out[..., 0] + 0.5 - self.pad_x) / self.scale_x - 0.5
        out[..., 1] = (out[..., 1] + 0.5 - self.pad_y) / self.scale_y - 0.5
        return out

    def to_network(self, points):
        """Map ``(..., >=2)`` source-image x, y to network-input x, y."""
        out = np.array(points, dtype=np.float32, copy=True)
        out[..., 0] = (out[..., 0] + 0.5) * self.scale_x + self.pad_x - 0.5
        out[..., 1] = (out[..., 1] + 0.5) * self.scale_y + self.pad_y - 0.5
        return out


def compute_transform(src_h, src_w, net_h, net_w, resize):
    """The ``Transform`` for a source of ``src_h x src_w`` into ``net_h x net_w`` with ``resize`` mode."""
    if resize == "stretch":
        return Transform(net_w / src_w, net_h / src_h, 0.0, 0.0, src_w, src_h, net_w, net_h)
    s = min(net_w / src_w, net_h / src_h)
    new_w, new_h = int(round(src_w * s)), int(round(src_h * s))
    pad_x, pad_y = (net_w - new_w) // 2, (net_h - new_h) // 2
    # The effective scale per axis is new/src, so that the image fills exactly new_w x new_h pixels.
    return Transform(new_w / src_w, new_h / src_h, float(pad_x), float(pad_y), src_w, src_h, net_w, net_h)


def resize_image(image, profile, size=None):
    """Resize/letterbox a BGR uint8 image to the network size: returns ``(uint8 HxWx3 BGR, Transform)``."""
    cv2 = deps.load("cv2", "preprocessing")

    if image is None or getattr(image, "ndim", 0) != 3 or image.shape[2] != 3 or image.dtype != np.uint8:
        shape = getattr(image, "shape", None)
        raise InputError("preprocess: expected a BGR uint8 image of shape (H, W, 3), got %s" % (shape,))
    net_h, net_w = size or profile.input.size
    src_h, src_w = image.shape[:2]
    tf = compute_transform(src_h, src_w, net_h, net_w, profile.input.resize)
    interp = _INTERP[profile.input.interpolation]
    if profile.input.resize == "stretch":
        out = cv2.resize(image, (net_w, net_h), interpolation=interp)
    else:
        new_w, new_h = int(round(src_w * tf.scale_x)), int(round(src_h * tf.scale_y))
        out = np.full((net_h, net_w, 3), profile.input.pad_value, dtype=np.uint8)
        px, py = int(tf.pad_x), int(tf.pad_y)
        out[py:py + new_h, px:px + new_w] = cv2.resize(image, (new_w, new_h), interpolation=interp)
    return out, tf


def to_tensor(resized, profile, out=None, dtype=np.float32):
    """Colour order, scale/offset and layout of a resized BGR uint8 image -> ``(1, ...)`` tensor.

    ``out``: an optional preallocated array of the result's shape (e.g. a pinned host buffer of the
    backend); the values are written straight into it (no intermediate float array) and it is returned.
    The colour swap is ``cv2.cvtColor`` on the small resized image (a negative-stride view followed by
    ``astype`` costs several times more).
    """
    cv2 = deps.load("cv2", "preprocessing")
    if profile.input.dtype == "uint8":          # the graph does colour, scale and offset: the frame as it is
        dtype = np.uint8
        img = resized
    else:
        img = cv2.cvtColor(resized, cv2.COLOR_BGR2RGB) if profile.input.color == "RGB" else resized
    scale, offset = np.float32(profile.input.scale), np.float32(profile.input.offset)
    if profile.input.layout == "NCHW":
        img = img.transpose(2, 0, 1)
    if out is None:
        out = np.empty((1,) + img.shape, dtype=dtype)
    elif tuple(out.shape) != (1,) + img.shape:
        raise InputError("preprocess: output buffer has shape %s, the input needs %s"
                         % (list(out.shape), [1] + list(img.shape)))
    if profile.input.dtype == "uint8":
        _check_dtype(out, profile)
        out[0] = img
        return out
    np.multiply(img, scale, out=out[0], casting="unsafe")
    out += offset
    return out


def _check_dtype(out, profile):
    """One clear line when ``out`` (e.g. a backend's input buffer) does not hold what the profile writes."""
    want = profile.input.dtype
    if (want == "uint8") != (out.dtype == np.uint8):
        raise InputError("preprocess: the input buffer is %s, profile %s writes %s: %s" % (
            out.dtype.name, profile.name, want,
            "the model takes uint8 frames, run it with the profile it was prepared with (a -u8 one)"
            if out.dtype == np.uint8 else "the model takes float input, not the -u8 profile's uint8 frames"))


def preprocess(image, profile, size=None, out=None):
    """BGR uint8 image -> ``(tensor (1, ...) float32, Transform)`` per the profile.

    ``size``: (H, W) to use instead of the profile's default; ``out``: optional buffer to fill (e.g. the
    backend's pinned input). Letterboxed NHWC inputs take the lean path: only the resized region is
    converted, the padding is filled with its constant value (same numbers as ``to_tensor(resize_image())``).
    A uint8 profile gives ``(tensor (1, H, W, 3) uint8 BGR, Transform)``: resize + letterbox only.
    """
    if profile.input.dtype == "uint8":
        return _frame(image, profile, size, out)
    if out is not None:
        _check_dtype(out, profile)
    if profile.input.layout != "NHWC" or profile.input.resize == "stretch":
        resized, tf = resize_image(image, profile, size)
        return to_tensor(resized, profile, out=out), tf
    cv2 = deps.load("cv2", "preprocessing")
    out, tf, (py, px, new_h, new_w) = _target(image, profile, size, out, np.float32)
    small = _scratch(new_h, new_w)
    cv2.resize(image, (new_w, new_h), dst=small, interpolation=_INTERP[profile.input.interpolation])
    if profile.input.color == "RGB":
        cv2.cvtColor(small, cv2.COLOR_BGR2RGB, dst=small)
    scale, offset = np.float32(profile.input.scale), np.float32(profile.input.offset)
    region = out[0, py:py + new_h, px:px + new_w]
    if out.dtype == np.float32:
        # one pass u8 -> float32 with scale and offset (numpy's multiply-then-add makes two over the floats)
        cv2.addWeighted(small, float(scale), small, 0.0, float(offset), dst=region, dtype=cv2.CV_32F)
    else:
        np.multiply(small, scale, out=region, casting="unsafe")
        region += offset
    _pad(out, (py, px, new_h, new_w), np.float32(profile.input.pad_value) * scale + offset)
    return out, tf


def _target(image, profile, size, out, dtype):
    """The NHWC paths' checks: ``(out, Transform, (top, left, height, width) of the image in it))``, ``out``
    allocated as ``dtype`` when None."""
    if image is None or getattr(image, "ndim", 0) != 3 or image.shape[2] != 3 or image.dtype != np.uint8:
        raise InputError("preprocess: expected a BGR uint8 image of shape (H, W, 3), got %s"
                         % (getattr(image, "shape", None),))
    net_h, net_w = size or profile.input.size
    tf = compute_transform(image.shape[0], image.shape[1], net_h, net_w, profile.input.resize)
    if out is None:
        out = np.empty((1, net_h, net_w, 3), dtype)
    elif tuple(out.shape) != (1, net_h, net_w, 3):
        raise InputError("preprocess: output buffer has shape %s, the input needs %s"
                         % (list(out.shape), [1, net_h, net_w, 3]))
    box = (int(tf.pad_y), int(tf.pad_x), int(round(tf.src_h * tf.scale_y)), int(round(tf.src_w * tf.scale_x)))
    return out, tf, box


def _pad(out, box, value):
    """Fill ``out[0]`` around the image at ``box`` (top, left, height, width) with ``value``."""
    py, px, h, w = box
    out[0, :py] = value
    out[0, py + h:] = value
    out[0, py:py + h, :px] = value
    out[0, py:py + h, px + w:] = value


def _frame(image, profile, size, out):
    """The uint8 path: resize (+ letterbox) the BGR frame straight into ``out`` (or a new uint8 array)."""
    cv2 = deps.load("cv2", "preprocessing")
    out, tf, (py, px, new_h, new_w) = _target(image, profile, size, out, np.uint8)
    _check_dtype(out, profile)
    region = out[0, py:py + new_h, px:px + new_w]
    interp = _INTERP[profile.input.interpolation]
    if region.flags.c_contiguous:      # full-width (landscape letterbox, stretch): OpenCV writes in place
        cv2.resize(image, (new_w, new_h), dst=region, interpolation=interp)
    else:                              # padded left and right: rows are strided, resize then one copy
        small = _scratch(new_h, new_w)
        cv2.resize(image, (new_w, new_h), dst=small, interpolation=interp)
        region[...] = small
    _pad(out, (py, px, new_h, new_w), profile.input.pad_value)
    return out, tf


_SCRATCH = threading.local()


def _scratch(h, w):
    """A uint8 (h, w, 3) array reused by this thread's next call (no 250 KB allocation and page faults per
    frame); the caller is done with it before it returns."""
    buf = getattr(_SCRATCH, "buf", None)
    if buf is None or buf.shape != (h, w, 3):
        buf = _SCRATCH.buf = np.empty((h, w, 3), np.uint8)
    return buf


def preprocess_batch(images, profile, size=None):
    """Several images -> ``(tensor (N, ...), [Transform])``."""
    tensors, tfs = zip(*(preprocess(im, profile, size) for im in images))
    return np.concatenate(tensors, axis=0), list(tfs)
