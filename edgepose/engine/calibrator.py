"""INT8 calibration data: images -> the inference preprocessing -> batches, and TensorRT's entropy calibrator.

``CalibrationSet`` lists a folder's images and streams them as ``(N, ...)`` float32 batches through
``edgepose.preprocess.preprocess`` (the very function inference uses, letterbox included), so the
calibration sees exactly what inference sees. It does not need TensorRT and is shared with
``edgepose quantize`` (ONNX Runtime's calibration data reader).

``make_entropy_calibrator(trt, cuda, calib_set, cache_path)`` wraps it in a ``trt.IInt8EntropyCalibrator2``
with one pinned host buffer and one device buffer (pycuda): each batch is preprocessed *into* the pinned
buffer, copied to the device and its pointer handed to TensorRT; every batch is served exactly once,
then ``None``. The calibration cache is read when it exists (no images needed then) and written after,
with ``<cache>.json`` recording the image set, profile and size it came from: a cache made from other
images or preprocessing is not reused.
"""
import hashlib
import logging
import os
import time

import numpy as np

from ..sources import images
from ..atomic import write_atomic, write_json_atomic
from ..errors import UsageError

log = logging.getLogger(__name__)

def list_images(folder):
    """Sorted image files of ``folder`` (not recursive)."""
    if not os.path.isdir(folder):
        raise UsageError("--calib %s: not a directory of images (make one with `edgepose calib collect` "
                         "or `edgepose synth images`)" % folder)
    return images.list_images(folder)


class CalibrationSet:
    """Images of a folder as preprocessed batches of ``batch_size`` (a last partial batch is dropped)."""

    def __init__(self, folder, profile, size=None, batch_size=1, count=None):
        from ..profiles import load_profile

        self.folder = folder
        self.profile = load_profile(profile)
        self.size = tuple(size or self.profile.input.size)
        self.batch_size = int(batch_size)
        files = list_images(folder)
        if count:
            files = files[:int(count)]
        if len(files) < self.batch_size:
            raise UsageError("--calib %s: %d image(s), need at least one batch of %d"
                             % (folder, len(files), self.batch_size))
        self.files = files[: len(files) // self.batch_size * self.batch_size]
        if len(self.files) < len(files):
            log.warning("calibration: the last %d image(s) do not fill a batch of %d and are skipped",
                        len(files) - len(self.files), self.batch_size)

    def __len__(self):
        return len(self.files) // self.batch_size

    @property
    def batch_shape(self):
        h, w = self.size
        one = (h, w, 3) if self.profile.input.layout == "NHWC" else (3, h, w)
        return (self.batch_size,) + one

    def fingerprint(self):
        """sha256 over the image names and sizes (identifies the set without reading every pixel)."""
        h = hashlib.sha256()
        for p in self.files:
            h.update(os.path.basename(p).encode())
            h.update(str(os.path.getsize(p)).encode())
        return h.hexdigest()

    def describe(self):
        return {"dir": os.path.abspath(self.folder), "images": len(self.files), "set_sha256": self.fingerprint(),
                "batch_size": self.batch_size}

    def load(self, path, out):
        """Preprocess the image at ``path`` into ``out`` (shape ``(1, ...)``)."""
        from ..preprocess import preprocess

        image = images.read_image(path, fix="remove it from the calibration folder")
        preprocess(image, self.profile, size=self.size, out=out)

    def batches(self, out=None):
        """Yield each batch once, as ``out`` filled in place (or a fresh array), with progress log lines."""
        t0 = time.time()
        n = len(self)
        step = max(1, n // 10)
        for b in range(n):
            buf = out if out is not None else np.empty(self.batch_shape, np.float32)
            for i in range(self.batch_size):
                self.load(self.files[b * self.batch_size + i], buf[i:i + 1])
            if (b + 1) % step == 0 or b + 1 == n:
                log.info("calibration batch %d/%d (%.1f s)", b + 1, n, time.time() - t0)
            yield buf


def _meta_path(path):
    return path + ".json"


def cache_key(calib_set):
    """What a calibration cache depends on: the image set, the preprocessing (profile) and the size."""
    if calib_set is None:
        return None
    return {"set_sha256": calib_set.fingerprint(), "profile": calib_set.profile.name,
            "size": list(calib_set.size), "batch_size": calib_set.batch_size}


def read_cache(path, key=None):
    """The cache bytes, or None (no cache, or one made from other images/preprocessing than ``key``)."""
    import json

    if not (path and os.path.isfile(path)):
        return None
    if key is not None and os.path.isfile(_meta_path(path)):
        try:
            with open(_meta_path(path)) as f:
                made_from = json.load(f)
        except (OSError, ValueError):
            made_from = None
        if made_from != key:
            log.warning("calibration cache %s was made from other images or preprocessing: calibrating again", path)
            return None
    with open(path, "rb") as f:
        data = f.read()
    if data:
        log.info("using calibration cache %s (%d bytes)", path, len(data))
        return data
    return None


def write_cache(path, data, key=None):
    if not path:
        return
    write_atomic(path, bytes(data))
    if key is not None:
        write_json_atomic(_meta_path(path), key)
    log.info("wrote calibration cache %s", path)


def make_entropy_calibrator(trt, cuda, calib_set, cache_path):
    """A ``trt.IInt8EntropyCalibrator2`` fed by ``calib_set`` (needs a current CUDA context)."""

    class EntropyCalibrator(trt.IInt8EntropyCalibrator2):
        def __init__(self):
            trt.IInt8EntropyCalibrator2.__init__(self)
            self.calib_set = calib_set
            self.cache_path = cache_path
            self.host = cuda.pagelocked_empty(calib_set.batch_shape, np.float32) if calib_set is not None else None
            self.device = cuda.mem_alloc(self.host.nbytes) if self.host is not None else None
            self._batches = iter(calib_set.batches(out=self.host)) if calib_set is not None else iter(())
            self.served = 0

        def get_batch_size(self):
            return calib_set.batch_size if calib_set is not None else 1

        def get_batch(self, names):
            try:
                host = next(self._batches)
            except StopIteration:
                return None
            cuda.memcpy_htod(self.device, host)
            self.served += 1
            return [int(self.device)]

        def read_calibration_cache(self):
            return read_cache(self.cache_path, cache_key(calib_set))

        def write_calibration_cache(self, cache):
            write_cache(self.cache_path, cache, cache_key(calib_set))

        def free(self):
            if self.device is not None:
                self.device.free()
                self.device = None

    return EntropyCalibrator()
