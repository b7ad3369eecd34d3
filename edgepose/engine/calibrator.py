"""INT8 calibration data: images -> the inference preprocessing -> batches, and TensorRT's entropy calibrator.

``CalibrationSet`` lists a folder's images and streams them as ``(N, ...)`` batches through
``edgepose.preprocess.preprocess`` (the very function inference uses, letterbox included), so the
calibration sees exactly what inference sees: float32, or uint8 BGR frames for a ``-u8`` profile (the
engine takes those; its graph normalises them). It does not need TensorRT and is shared with
``edgepose quantize`` (ONNX Runtime's calibration data reader).

``make_entropy_calibrator(trt, gpu, calib_set, cache_path, model_key)`` wraps it in a
``trt.IInt8EntropyCalibrator2`` with one pinned host buffer and one device buffer (pycuda or cuda-python): each batch is preprocessed *into* the pinned
buffer, copied to the device and its pointer handed to TensorRT; every batch is served exactly once,
then ``None``. The calibration cache is read when it exists (no images needed then) and written after,
with ``<cache>.json`` recording the model, TensorRT version, image set, profile and size it came from: a
cache made for another model, TensorRT or preprocessing is not reused. Errors in TensorRT's callbacks
are caught, remembered and fail the build afterwards (TensorRT itself would swallow them).
"""
import hashlib
import logging
import os

import numpy as np

from ..atomic import write_atomic
from ..sources import images
from ..errors import EngineError, InputError, UsageError

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
    def dtype(self):
        """What the network input takes (and the batches hold): float32, or uint8 for a ``-u8`` profile."""
        return np.dtype(self.profile.input.dtype)

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
        """Yield each batch once, as ``out`` filled in place (or a fresh array), with a progress bar (log lines
        when not on a terminal): TensorRT's calibration and ``edgepose quantize`` both read the set through it."""
        from ..progress import progress

        with progress(len(self), "calibrating (%d images)" % len(self.files), unit="batch", logger=log) as bar:
            for b in range(len(self)):
                buf = out if out is not None else np.empty(self.batch_shape, self.dtype)
                for i in range(self.batch_size):
                    self.load(self.files[b * self.batch_size + i], buf[i:i + 1])
                bar.update()
                yield buf


def _meta_path(path):
    return path + ".json"


def cache_key(calib_set, model_key=None):
    """What a calibration cache depends on: the model and TensorRT version (``model_key``), the image set,
    the preprocessing (profile) and the size. Stale scales from another model or TensorRT are never reused."""
    key = dict(model_key or {})
    if calib_set is not None:
        key.update({"set_sha256": calib_set.fingerprint(), "profile": calib_set.profile.name,
                    "size": list(calib_set.size), "batch_size": calib_set.batch_size})
    return key or None


def read_cache(path, key=None):
    """The cache bytes, or None (no cache, or one made for another model/TensorRT/image set than ``key``).

    A cache without its ``<cache>.json`` record cannot be checked: it is used with a warning. A cache for
    another model or TensorRT version given without images (nothing to recalibrate from) is an EngineError.
    """
    import json

    if not (path and os.path.isfile(path)):
        return None
    made_from = None
    if os.path.isfile(_meta_path(path)):
        try:
            with open(_meta_path(path)) as f:
                made_from = json.load(f)
        except (OSError, ValueError):
            made_from = None
    if key is not None:
        if made_from is None:
            log.warning("calibration cache %s has no %s record: cannot check it was made for this model and "
                        "TensorRT", path, os.path.basename(_meta_path(path)))
        else:
            stale = sorted(k for k in key if made_from.get(k) != key[k])
            if stale:
                if "set_sha256" not in key:
                    raise EngineError("calibration cache %s was made for another %s: delete it and calibrate again "
                                      "with --calib DIR" % (path, " and ".join(stale)))
                log.warning("calibration cache %s was made for another %s: calibrating again", path, ", ".join(stale))
                return None
    with open(path, "rb") as f:
        data = f.read()
    if data:
        log.info("using calibration cache %s (%d bytes)", path, len(data))
        return data
    return None


def write_cache(path, data, key=None):
    import json

    if not path:
        return
    write_atomic(path, bytes(data))
    if key is not None:
        write_atomic(_meta_path(path), json.dumps(key, indent=2, sort_keys=True))
    log.info("wrote calibration cache %s", path)


def make_entropy_calibrator(trt, gpu, calib_set, cache_path, model_key=None):
    """A ``trt.IInt8EntropyCalibrator2`` fed by ``calib_set`` through one pinned + device buffer on ``gpu``
    (a ``GpuDevice``; TensorRT calls back on the building thread, where the context is current).

    TensorRT swallows exceptions raised in these callbacks (prints them, then takes them as the end of the
    data): every callback catches its own, records the first, stops serving batches and refuses to write
    the cache; ``raise_if_failed()`` after the build turns it into one EngineError.
    """
    from ..backends.gpubuffers import BufferSet

    key = cache_key(calib_set, model_key)

    class EntropyCalibrator(trt.IInt8EntropyCalibrator2):
        def __init__(self):
            trt.IInt8EntropyCalibrator2.__init__(self)
            self.calib_set = calib_set
            self.cache_path = cache_path
            self.error = None
            self.served = 0
            self.bufs = None
            if calib_set is not None:
                dtype = getattr(calib_set, "dtype", np.dtype(np.float32))      # what the engine's input takes
                self.bufs = BufferSet(gpu, {"batch": (dtype, calib_set.batch_shape)})
                self._batches = iter(calib_set.batches(out=self.bufs.host("batch", calib_set.batch_shape)))
            else:
                self._batches = iter(())

        def _fail(self, where, e):
            if self.error is None:
                self.error = "%s: %s" % (where, e if str(e) else type(e).__name__)
                log.error("calibration stopped in %s: %s", where, self.error)

        def get_batch_size(self):
            return calib_set.batch_size if calib_set is not None else 1

        def get_batch(self, names):
            if self.error is not None:
                return None
            try:
                if len(names) != 1:
                    raise EngineError("the network has %d inputs %s; calibration feeds one" % (len(names), names))
                try:
                    next(self._batches)        # preprocessed into the pinned buffer
                except StopIteration:
                    return None
                self.bufs.upload("batch", calib_set.batch_shape)
                self.bufs.sync()
                self.served += 1
                return [self.bufs["batch"].ptr]
            except Exception as e:
                self._fail("get_batch (batch %d)" % (self.served + 1), e)
                return None

        def read_calibration_cache(self):
            try:
                return read_cache(self.cache_path, key)
            except Exception as e:
                self._fail("read_calibration_cache", e)
                return None

        def write_calibration_cache(self, cache):
            if self.error is not None:
                log.error("not writing calibration cache %s: calibration did not finish", self.cache_path)
                return
            try:
                write_cache(self.cache_path, cache, key)
            except Exception as e:
                self._fail("write_calibration_cache", e)

        def raise_if_failed(self):
            if self.error is not None:
                raise EngineError("INT8 calibration failed, no engine written: %s" % self.error)
            if calib_set is not None and 0 < self.served < len(calib_set):
                raise EngineError("INT8 calibration used %d of %d batches: no engine written"
                                  % (self.served, len(calib_set)))

        def describe(self):
            info = dict(calib_set.describe()) if calib_set is not None else {}
            info["batches_served"] = self.served
            if self.cache_path and os.path.isfile(self.cache_path):
                from ..onnxprep import sha256_file

                info.update(cache=os.path.abspath(self.cache_path), cache_sha256=sha256_file(self.cache_path))
            return info or None

        def free(self):
            if self.bufs is not None:
                self.bufs.free()
                self.bufs = None

    return EntropyCalibrator()
