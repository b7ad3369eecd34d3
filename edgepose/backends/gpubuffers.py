"""GPU device handle and buffer sets on top of a CUDA adapter (``cudalib``): what the TensorRT backend
uses and what the device self-test checks.

- ``GpuDevice.get(lib, index)``: one per (library, device) per process. It retains the device's
  primary context once and never creates another; ``with dev.current():`` pushes it on the calling
  thread and pops it again, so activation, inference and deactivation may happen on any thread
  (pycuda's ``detach`` silently does nothing off the retaining thread, which is why a per-backend
  context leaked one context per pipeline round).
- ``BufferSet``: pinned host + device memory per tensor, sized once for the largest shape, plus one
  stream. Inputs are written *into* the pinned arrays (``host(name, shape)`` returns a view of them),
  copies are asynchronous on the set's stream, ``free()`` releases everything (under the context,
  on any thread). Nothing is freed in ``__del__``.
"""
import contextlib
import logging
import threading

import numpy as np

from ..errors import BackendError

log = logging.getLogger(__name__)


class GpuDevice:
    """The primary context of one CUDA device through one library."""

    _devices = {}
    _lock = threading.Lock()

    def __init__(self, lib, index):
        self.lib, self.index = lib, int(index)
        count = lib.device_count()
        if not 0 <= self.index < count:
            raise BackendError("CUDA device %d does not exist (%d device(s) found by %s): pick --device 0..%d"
                               % (self.index, count, lib.name, max(0, count - 1)))
        self.info = lib.device(self.index)
        self._ctx = lib.retain_primary(self.index)

    @classmethod
    def get(cls, lib, index=0):
        key = (lib.name, int(index))
        with cls._lock:
            dev = cls._devices.get(key)
            if dev is None:
                dev = cls._devices[key] = cls(lib, index)
            return dev

    @contextlib.contextmanager
    def current(self):
        """The primary context current on this thread for the block (push/pop, nestable)."""
        self.lib.push(self._ctx)
        try:
            yield self
        finally:
            self.lib.pop()

    def mem_get_info(self):
        """``(free, total)`` bytes of device memory (system memory on a Jetson)."""
        with self.current():
            return self.lib.mem_get_info()

    def describe(self):
        i = self.info
        return "%s (sm %s, %.1f GiB%s) via %s %s" % (i.name, i.compute_capability, i.total_memory / 2.0 ** 30,
                                                     ", integrated" if i.integrated else "", self.lib.name,
                                                     self.lib.version)


class DeviceBuffer:
    """Pinned host array (flat, never rebound) and device memory of one tensor."""

    __slots__ = ("name", "dtype", "max_shape", "host_flat", "ptr", "_host_handle", "_dev_handle")

    def __init__(self, lib, name, dtype, max_shape):
        self.name, self.dtype = name, np.dtype(dtype)
        self.max_shape = tuple(int(d) for d in max_shape)
        count = int(np.prod(self.max_shape)) if self.max_shape else 1
        self.host_flat, self._host_handle = lib.pinned_empty(count, self.dtype)
        try:
            self.ptr, self._dev_handle = lib.alloc(count * self.dtype.itemsize)
        except BaseException:
            lib.free_pinned(self._host_handle)
            raise

    @property
    def nbytes(self):
        return self.host_flat.nbytes

    def view(self, shape):
        """The first prod(shape) elements of the pinned buffer shaped as ``shape`` (a view, no copy)."""
        n = int(np.prod(shape)) if len(shape) else 1
        if n > self.host_flat.size:
            raise BackendError("tensor %s: shape %s does not fit its buffer %s" % (self.name, list(shape),
                                                                                   list(self.max_shape)))
        return self.host_flat[:n].reshape(shape)

    def free(self, lib):
        if self._dev_handle is not None:
            lib.free(self._dev_handle)
            self._dev_handle = None
        if self._host_handle is not None:
            lib.free_pinned(self._host_handle)
            self._host_handle = None
        self.host_flat = None


class BufferSet:
    """Buffers for named tensors plus a stream on ``device``. ``specs``: ``{name: (dtype, max_shape)}``.
    Allocates under the device's context (from any thread); call ``free()`` when done."""

    def __init__(self, device, specs):
        self.device, self.lib = device, device.lib
        self.buffers = {}
        self._stream = None
        with device.current():
            try:
                for name, (dtype, shape) in specs.items():
                    self.buffers[name] = DeviceBuffer(self.lib, name, dtype, shape)
                self._stream = self.lib.stream_create()
            except BaseException:
                self._free_all()
                raise

    def __getitem__(self, name):
        return self.buffers[name]

    @property
    def stream_handle(self):
        return self.lib.stream_handle(self._stream)

    @property
    def nbytes(self):
        return sum(b.nbytes for b in self.buffers.values())

    def host(self, name, shape):
        """Pinned host view of tensor ``name`` shaped ``shape``: write inputs into it in place."""
        return self.buffers[name].view(tuple(shape))

    def upload(self, name, shape):
        """Queue the copy of the first prod(shape) elements of ``name``'s pinned buffer to the device
        (the caller holds the context current)."""
        self.lib.htod_async(self.buffers[name].ptr, self.host(name, shape), self._stream)

    def download(self, name, shape):
        """Queue the device -> pinned copy of ``name`` and return the pinned view (valid after ``sync``)."""
        view = self.host(name, shape)
        self.lib.dtoh_async(view, self.buffers[name].ptr, self._stream)
        return view

    def sync(self):
        self.lib.stream_sync(self._stream)

    def _free_all(self):
        errors = []
        if self._stream is not None:
            try:
                self.lib.stream_sync(self._stream)
                self.lib.stream_destroy(self._stream)
            except Exception as e:      # keep freeing; report once at the end
                errors.append(e)
            self._stream = None
        for buf in self.buffers.values():
            try:
                buf.free(self.lib)
            except Exception as e:
                errors.append(e)
        self.buffers = {}
        if errors:
            raise BackendError("freeing GPU buffers failed: %s" % errors[0])

    def free(self):
        """Release every buffer and the stream (safe to call twice, from any thread)."""
        if not self.buffers and self._stream is None:
            return
        with self.device.current():
            self._free_all()
