"""Model profiles: everything edgepose knows about a model's inputs and outputs.

A profile is the single source of truth about a model: input tensor name, layout, colour order,
scale/offset, size, resize mode, output names and strides, which channels are keypoint heatmaps,
which PAF channel pair belongs to which limb and in which direction, and default decode thresholds.
No layout constant appears anywhere else in the package.

Built-in profiles are the YAML files beside this module; a user's own profile is any YAML path of
the same form (see README, "Profile format"). ``load_profile(name_or_path)`` returns a ``Profile``.
A profile may start from another with ``base: NAME_OR_PATH`` and give only what differs (mappings are
merged key by key, anything else replaced): the ``-paf8`` and ``-u8`` variants are written that way.

``input.dtype: uint8`` (the ``-u8`` variants): the engine takes the letterboxed frame as uint8 NHWC BGR,
exactly as OpenCV produces it, and ``input.color``/``scale``/``offset`` (the model's own contract) are
applied inside the graph (``edgepose prepare`` adds Cast -> channel order -> scale/offset in front of it,
``edgepose.onnxfront``): the host only resizes and letterboxes, and copies 4x fewer bytes to the device.
"""
import os
from typing import List, Literal, Optional, Tuple

import numpy as np
from pydantic import Field, field_validator, model_validator

from ..errors import ProfileError
from ..topology import KP, KEYPOINTS, NUM_KEYPOINTS
from ..validation import Strict, load_yaml, validate

_HERE = os.path.dirname(os.path.abspath(__file__))


class InputSpec(Strict):
    name: str = Field(description="input tensor name")
    layout: Literal["NHWC", "NCHW"]
    color: Literal["RGB", "BGR"]
    scale: float = Field(description="network value = pixel * scale + offset")
    offset: float
    size: Tuple[int, int] = Field(description="default network input size [H, W]")
    resize: Literal["letterbox", "stretch"]
    pad_value: int = Field(0, ge=0, le=255, description="pixel value of letterbox padding, before scaling")
    interpolation: Literal["linear", "cubic", "area"] = "linear"
    dtype: Literal["float32", "uint8"] = Field(
        "float32", description="what the network input takes: float32 (the host converts: colour order, "
        "scale/offset, layout) or uint8 (the letterboxed frame as OpenCV gives it, NHWC BGR 0..255; the graph "
        "does the rest on the GPU: `edgepose prepare` with such a profile puts Cast, channel order and "
        "scale/offset at the front of the model)")

    @field_validator("size")
    @classmethod
    def _positive(cls, v):
        if v[0] <= 0 or v[1] <= 0:
            raise ValueError("H and W must be positive")
        return v


class HeatmapSpec(Strict):
    name: str = Field(description="output tensor holding the keypoint heatmaps")
    stride: int = Field(gt=0)
    channel_offset: int = Field(0, ge=0, description="channel of the first keypoint (nose)")
    background: Optional[int] = Field(None, ge=0, description="background channel, if any")


class PafSpec(Strict):
    name: str = Field(description="output tensor holding the part affinity fields")
    stride: int = Field(gt=0)


class OutputsSpec(Strict):
    layout: Literal["NHWC", "NCHW"]
    heatmap: HeatmapSpec
    paf: PafSpec


class DecodeParams(Strict):
    """Default decode parameters; ``PoseDecoder(profile, **overrides)`` may change any of them."""

    peak_threshold: float = Field(gt=0, description="minimum heatmap value of a keypoint peak")
    paf_threshold: float = Field(description="minimum PAF dot product of a line-integral sample")
    paf_samples: int = Field(10, ge=2, description="line-integral samples per candidate limb")
    paf_count_ratio: float = Field(
        ge=0, le=1, description="a candidate limb needs MORE than this fraction of samples above paf_threshold")
    distance_prior: bool = Field(
        description="add min(0, 0.5*H/len - 1) to a limb's score (H: PAF map height, len: limb length in PAF pixels)")
    min_parts: int = Field(4, ge=1, description="minimum keypoints of a person")
    min_person_score: float = Field(description="minimum person score (total score / number of parts)")
    seedless_limbs: List[int] = Field(default_factory=list, description="limbs (profile order) that never start a person")
    smooth_sigma: float = Field(0.0, ge=0, description="Gaussian sigma, heatmap pixels, applied before NMS (0: none)")
    nms_window: int = Field(3, ge=1, description="NMS window, heatmap pixels (odd)")
    max_peaks: int = Field(
        32, ge=1, description="keep at most this many candidates per keypoint (the strongest): bounds the time "
        "spent on maps that are noise (a broken model or input), where every cell can be a peak")
    paf_interpolation: Literal["auto", "bilinear", "nearest"] = Field(
        "auto", description="how PAF values are read along a limb: bilinear, nearest cell, or auto (nearest for a "
        "PAF at stride <= 2, whose nearest cell is within a pixel of the sample point; bilinear otherwise)")
    join_slack: float = Field(
        1.25, ge=0, description="people whose neck is missing, limbs whose PAF failed: join such fragments when "
        "every distance between them is within this factor of what one body allows (decode/fragments.py); 0: never")


class Profile(Strict):
    name: str
    description: str = ""
    input: InputSpec
    outputs: OutputsSpec
    limbs: List[Tuple[str, str, int, int]] = Field(
        description="[from, to, x_channel, y_channel]: PAF channels (in the PAF output) of the vector from->to")
    decode: DecodeParams

    @field_validator("limbs")
    @classmethod
    def _known_keypoints(cls, limbs):
        for i, (a, b, _, _) in enumerate(limbs):
            for n in (a, b):
                if n not in KP:
                    raise ValueError("limb %d: unknown keypoint %r (known: %s)" % (i, n, ", ".join(KEYPOINTS)))
        return limbs

    @model_validator(mode="after")
    def _cross_checks(self):
        if self.input.dtype == "uint8" and self.input.layout != "NHWC":
            raise ValueError("input.dtype uint8 takes the frame as OpenCV gives it (NHWC): this profile's "
                             "input.layout is %s" % self.input.layout)
        for k in self.decode.seedless_limbs:
            if not 0 <= k < len(self.limbs):
                raise ValueError("decode.seedless_limbs: limb %d does not exist (0..%d)" % (k, len(self.limbs) - 1))
        h, w = self.input.size
        for what, stride in (("heatmap", self.outputs.heatmap.stride), ("paf", self.outputs.paf.stride)):
            if h % stride or w % stride:
                raise ValueError("input.size %dx%d is not a multiple of the %s stride %d" % (h, w, what, stride))
        return self

    # -- derived views used by the decoder -------------------------------------------------------
    @property
    def limb_parts(self):
        """(L, 2) int array: keypoint index of each limb's start and end."""
        return np.array([[KP[a], KP[b]] for a, b, _, _ in self.limbs], dtype=np.int64)

    @property
    def limb_channels(self):
        """(L, 2) int array: PAF channel of each limb's x and y component."""
        return np.array([[cx, cy] for _, _, cx, cy in self.limbs], dtype=np.int64)

    @property
    def heatmap_channels(self):
        """Channel indices of the 18 keypoint heatmaps in the heatmap output."""
        o = self.outputs.heatmap.channel_offset
        return np.arange(o, o + NUM_KEYPOINTS)

    def with_size(self, size):
        """A copy whose input size is ``(H, W)`` (validated against the strides)."""
        data = self.model_dump()
        data["input"]["size"] = tuple(size)
        return validate(Profile, data, "profile %s with size %sx%s" % (self.name, size[0], size[1]))


def builtin_profiles():
    """Names of the built-in profiles."""
    return sorted(f[:-5] for f in os.listdir(_HERE) if f.endswith(".yaml"))


def _merged(base, over):
    out = dict(base)
    for k, v in over.items():
        out[k] = _merged(out[k], v) if isinstance(v, dict) and isinstance(out.get(k), dict) else v
    return out


def _profile_data(name_or_path, seen=()):
    """The YAML mapping of a profile, with its ``base`` chain merged in."""
    key = os.fspath(name_or_path)
    path = os.path.join(_HERE, key + ".yaml")
    if not os.path.isfile(path):
        if not (key.endswith((".yaml", ".yml")) or os.sep in key or os.path.isfile(key)):
            raise ProfileError(
                "profile %r: not a built-in profile (%s) nor a YAML file" % (key, ", ".join(builtin_profiles())))
        path = key
    data = load_yaml(path)
    if isinstance(data, dict) and "base" in data:
        base = data.pop("base")
        if base in seen or base == key:
            raise ProfileError("%s: base %r makes a loop of profiles (%s)" % (path, base, " -> ".join(seen + (key,))))
        data = _merged(_profile_data(base, seen + (key,))[0], data)
    return data, path


def load_profile(name_or_path):
    """Load a built-in profile by name, or a user's profile from a YAML path."""
    if isinstance(name_or_path, Profile):
        return name_or_path
    data, path = _profile_data(name_or_path)
    try:
        return validate(Profile, data, path)
    except ProfileError:
        raise
    except Exception as e:  # ConfigError from validate -> ProfileError with the same text
        raise ProfileError(str(e))


from .resolve import resolve_model  # noqa: E402,F401  (uses load_profile above)
