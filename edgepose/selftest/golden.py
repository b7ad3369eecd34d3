"""The self-test's reference data for the bundled model, readable with numpy alone (no pydantic, no PyYAML,
no ONNX Runtime, no OpenCV: what a Jetson has from JetPack).

``edgepose/selftest/data/`` holds, made by ``tools/make_device_golden.py`` on a machine with ONNX Runtime:

- ``edgepose-demo.golden.npz``: ``model_sha256`` of the bundled ONNX it belongs to; ``images`` (N, H, W, 3)
  uint8 RGB letterboxed network inputs (input = image * scale + offset, exactly what ``preprocess`` gives);
  ``heatmap`` (N, h, w, 19) and ``paf8`` (N, h, w, 38) float32: ONNX Runtime's outputs (the PAF at every
  4th cell: the graph's x4 upsampling is nearest-neighbour); ``people`` (N,) count of people decoded from
  them and ``keypoints`` (N, P, 18, 3) (NaN padded); ``calib`` (M, H, W, 3) uint8 calibration inputs;
  ``profile_json``: the profile (``Profile.model_dump``); ``qdq_sha256`` / ``qdq_source_sha256`` of the
  Q/DQ model and the model it was quantized from; ``made_with``: versions and command.
- ``edgepose-demo.qdq.onnx``: the bundled model quantized (symmetric int8 Q/DQ, per-channel weights, made with
  ``edgepose quantize`` on the calibration inputs): TensorRT's only INT8 route on 11.x.
- ``edgepose-demo.u8.onnx``: the bundled model prepared with profile ``edgepose-demo-u8`` (``edgepose prepare``,
  dynamic batch): uint8 NHWC BGR input normalised in the graph, PAF at stride 8; ``u8_sha256`` /
  ``u8_source_sha256`` in the npz tie it to the bundled model.

``stale_reason()`` says when these no longer belong to the bundled model (the test suite fails then;
``python tools/make_device_golden.py`` makes them again).
"""
import hashlib
import json
import os
from types import SimpleNamespace

import numpy as np

from ..onnxprep import sha256_file  # noqa: F401  (numpy only; re-exported for tools/make_device_golden.py)

HERE = os.path.dirname(os.path.abspath(__file__))
DATA = os.path.join(HERE, "data")
GOLDEN = os.path.join(DATA, "edgepose-demo.golden.npz")
QDQ = os.path.join(DATA, "edgepose-demo.qdq.onnx")
U8 = os.path.join(DATA, "edgepose-demo.u8.onnx")
REGENERATE = "python tools/make_device_golden.py"


def bundled_model_path():
    return os.path.join(os.path.dirname(HERE), "models", "edgepose-demo.onnx")


def load(path=GOLDEN):
    """The golden data as a dict of arrays (``profile_json`` and the hashes as str)."""
    with np.load(path, allow_pickle=False) as z:
        data = {k: z[k] for k in z.files}
    for k in ("model_sha256", "qdq_sha256", "qdq_source_sha256", "u8_sha256", "u8_source_sha256", "profile_json",
              "made_with"):
        if k in data:
            data[k] = str(data[k])
    return data


def stale_reason(path=GOLDEN, model=None, qdq=QDQ, u8=U8):
    """None when the golden data and Q/DQ model belong to ``model`` (default: the bundled one), else why not."""
    model = model or bundled_model_path()
    if not os.path.isfile(path):
        return "%s is missing: run `%s`" % (path, REGENERATE)
    data = load(path)
    have = sha256_file(model)
    if data.get("model_sha256") != have:
        return ("%s was made for a model with sha256 %s, %s has %s: run `%s`"
                % (os.path.basename(path), data.get("model_sha256"), os.path.basename(model), have, REGENERATE))
    if not os.path.isfile(qdq):
        return "%s is missing: run `%s`" % (qdq, REGENERATE)
    if data.get("qdq_source_sha256") != have or data.get("qdq_sha256") != sha256_file(qdq):
        return "%s does not belong to %s (or was changed): run `%s`" % (os.path.basename(qdq), os.path.basename(model),
                                                                       REGENERATE)
    if not os.path.isfile(u8):
        return "%s is missing: run `%s`" % (u8, REGENERATE)
    if data.get("u8_source_sha256") != have or data.get("u8_sha256") != sha256_file(u8):
        return "%s does not belong to %s (or was changed): run `%s`" % (os.path.basename(u8), os.path.basename(model),
                                                                       REGENERATE)
    return None


def _ns(obj):
    if isinstance(obj, dict):
        return SimpleNamespace(**{k: _ns(v) for k, v in obj.items()})
    return obj


class ProfileView:
    """The parts of a ``Profile`` that decoding reads, from its dump, without pydantic. Only for data that
    a validated ``Profile`` produced (the golden file's ``profile_json``)."""

    def __init__(self, dump):
        from ..topology import KP, NUM_KEYPOINTS

        self.name = dump["name"]
        self.input = _ns(dump["input"])
        self.outputs = _ns(dump["outputs"])
        self.limbs = [tuple(limb) for limb in dump["limbs"]]
        self.decode = _ns(dump["decode"])
        self.limb_parts = np.array([[KP[a], KP[b]] for a, b, _, _ in self.limbs], dtype=np.int64)
        self.limb_channels = np.array([[cx, cy] for _, _, cx, cy in self.limbs], dtype=np.int64)
        o = self.outputs.heatmap.channel_offset
        self.heatmap_channels = np.arange(o, o + NUM_KEYPOINTS)

    @classmethod
    def from_json(cls, text):
        return cls(json.loads(text))

    def with_paf_stride(self, stride):
        """A copy whose PAF output is at ``stride`` (the graph's upsampling cut)."""
        other = ProfileView.__new__(ProfileView)
        other.__dict__.update(self.__dict__)
        other.outputs = SimpleNamespace(layout=self.outputs.layout, heatmap=self.outputs.heatmap,
                                        paf=SimpleNamespace(name=self.outputs.paf.name, stride=stride))
        return other

    def uint8_variant(self):
        """The view of the ``-u8`` variant (``edgepose-demo-u8``): uint8 BGR input, PAF at the heatmap's stride."""
        other = self.with_paf_stride(self.outputs.heatmap.stride)
        other.name = self.name + "-u8"
        other.input = SimpleNamespace(**dict(vars(self.input), dtype="uint8"))
        return other


def decoder(profile_view):
    """A ``PoseDecoder`` for the view with its own decode parameters (no validation: they come from a
    validated profile)."""
    from ..decode.decoder import PoseDecoder

    return PoseDecoder.trusted(profile_view, profile_view.decode)


def network_input(images, profile_view):
    """(N, H, W, 3) network input of the uint8 RGB letterboxed ``images`` (what ``preprocess`` gives): float32
    ``image * scale + offset``, or for a uint8 profile the frames themselves in OpenCV's BGR order."""
    if getattr(profile_view.input, "dtype", "float32") == "uint8":
        return np.ascontiguousarray(images[..., ::-1])
    scale, offset = np.float32(profile_view.input.scale), np.float32(profile_view.input.offset)
    return images.astype(np.float32) * scale + offset


def people_arrays(people, max_people):
    """``(count, (max_people, 18, 3) keypoints, NaN padded)`` of a list of ``Person``."""
    k = np.full((max_people, 18, 3), np.nan, np.float32)
    for i, p in enumerate(people[:max_people]):
        k[i] = p.keypoints
    return len(people), k


class ArrayCalibrationSet:
    """The golden file's calibration images as INT8 calibration batches (the ``CalibrationSet`` interface the
    entropy calibrator uses), without OpenCV or image files."""

    def __init__(self, images, profile_view, batch_size=1):
        self.images, self.profile, self.batch_size = images, profile_view, int(batch_size)
        self.size = tuple(int(d) for d in images.shape[1:3])
        if len(images) < self.batch_size:
            raise ValueError("%d calibration images, need a batch of %d" % (len(images), self.batch_size))

    def __len__(self):
        return len(self.images) // self.batch_size

    @property
    def batch_shape(self):
        return (self.batch_size,) + self.size + (3,)

    @property
    def dtype(self):
        return np.dtype(getattr(self.profile.input, "dtype", "float32"))

    def fingerprint(self):
        return hashlib.sha256(np.ascontiguousarray(self.images).tobytes()).hexdigest()

    def describe(self):
        return {"source": "edgepose self-test golden data", "images": len(self) * self.batch_size,
                "set_sha256": self.fingerprint(), "batch_size": self.batch_size}

    def batches(self, out=None):
        for b in range(len(self)):
            x = network_input(self.images[b * self.batch_size:(b + 1) * self.batch_size], self.profile)
            if out is None:
                yield x
            else:
                out[...] = x
                yield out
