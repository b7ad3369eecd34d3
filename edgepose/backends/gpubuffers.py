"""GPU device handle and buffer sets on top of a CUDA adapter (``cudalib``): what the TensorRT backend
uses and what the device self-test checks.

- ``GpuDevice.get(lib, index)``: one per (library, device) per process. It retains the device's
  primary context once and never creates another; ``with dev.current():`` pushes it on the calling
  thread and pops it again, so activation, inference and deactivation may happen on any thread
  (pycuda's ``detach`` silently does nothing off the retaining thread, which is why a per-backend
  context leaked one context per pipeline round).
- ``BufferSet``: device memory per tensor (plus pinned host memory for the tensors named in ``pinned``,
  default all), sized once for the largest shape, and one stream. Inputs are written *into* the pinned
  arrays (``host(name, shape)`` returns a view of them), copies are asynchronous on the set's stream,
  ``free()`` releases everything (under the context, on any thread). Nothing is freed in ``__del__``.
- ``HostPool``: pinned host blocks of one layout (e.g. every output of an engine at its largest batch)
  lent out as numpy arrays. A block goes back to the pool when the last array made from it is gone,
  so results are copied device -> host straight into memory the caller keeps (no per-frame
  allocation, no second copy out of a shared buffer) and a caller that drops a result returns it.
"""
import contextlib
import ctypes
import logging
import threading
import weakref

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

    def __init__(self, lib, name, dtype, max_shape, pinned=True):
        self.name, self.dtype = name, np.dtype(dtype)
        self.max_shape = tuple(int(d) for d in max_shape)
        count = int(np.prod(self.max_shape)) if self.max_shape else 1
        self.host_flat, self._host_handle = lib.pinned_empty(count, self.dtype) if pinned else (None, None)
        try:
            self.ptr, self._dev_handle = lib.alloc(count * self.dtype.itemsize)
        except BaseException:
            if self._host_handle is not None:
                lib.free_pinned(self._host_handle)
            raise

    @property
    def nbytes(self):
        """Bytes of device memory (the pinned host copy, where there is one, is as large)."""
        return (int(np.prod(self.max_shape)) if self.max_shape else 1) * self.dtype.itemsize

    def view(self, shape):
        """The first prod(shape) elements of the pinned buffer shaped as ``shape`` (a view, no copy)."""
        if self.host_flat is None:
            raise BackendError("tensor %s has no pinned host buffer (copy it into a HostPool lease)" % self.name)
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
    """Buffers for named tensors plus a stream on ``device``. ``specs``: ``{name: (dtype, max_shape)}``;
    ``pinned``: the names that also get a pinned host buffer (default: all). Allocates under the
    device's context (from any thread); call ``free()`` when done."""

    def __init__(self, device, specs, pinned=None):
        self.device, self.lib = device, device.lib
        self.buffers = {}
        self._stream = None
        with device.current():
            try:
                for name, (dtype, shape) in specs.items():
                    self.buffers[name] = DeviceBuffer(self.lib, name, dtype, shape,
                                                      pinned=pinned is None or name in pinned)
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

    def upload(self, name, shape, source=None):
        """Queue the copy of the first prod(shape) elements of ``name``'s pinned buffer (or of ``source``, a
        C-contiguous host array, ideally pinned) to the device (the caller holds the context current)."""
        host = self.host(name, shape) if source is None else source
        self.lib.htod_async(self.buffers[name].ptr, host, self._stream)

    def download(self, name, shape, into=None):
        """Queue the device -> host copy of ``name`` into its pinned view (or ``into``, a C-contiguous array
        of ``shape``) and return that array (valid after ``sync``)."""
        view = self.host(name, shape) if into is None else into
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


class HostPool:
    """Pinned host blocks holding the tensors of ``layout`` (``{name: (dtype, shape)}``), lent out by
    ``lease()`` as ``{name: array}``. A block returns to the pool when the last array made from a lease
    (views included) is garbage; up to ``limit`` blocks exist, past that a lease is ordinary memory
    (with one warning: something holds on to results). ``close()`` frees the idle blocks at once and
    the lent ones when they come back (under the primary context, from whichever thread drops them)."""

    ALIGN = 256

    def __init__(self, device, layout, limit=8, what="results"):
        self.device, self.lib, self.what = device, device.lib, what
        self.layout, offset = {}, 0
        for name, (dtype, shape) in layout.items():
            dtype, shape = np.dtype(dtype), tuple(int(d) for d in shape)
            self.layout[name] = (dtype, shape, offset)
            offset += -(-int(np.prod(shape)) * dtype.itemsize // self.ALIGN) * self.ALIGN
        self.nbytes = max(offset, 1)
        self.limit = int(limit)
        self._idle, self._count, self._closed, self._warned = [], 0, False, False
        self._lock = threading.Lock()
        self._leases = {}       # id(token) -> weak reference to the token of a block lent out

    def _allocate(self):
        with self.device.current():
            return self.lib.pinned_empty(self.nbytes, np.uint8)

    def lease(self):
        """``{name: array of the layout's shape}`` in one pinned block (ordinary memory past ``limit``)."""
        with self._lock:
            if self._closed:
                raise BackendError("%s pool used after the backend was deactivated" % self.what)
            block = self._idle.pop() if self._idle else None
            grow = block is None and self._count < self.limit
            if grow:
                self._count += 1
        if grow:
            try:
                block = self._allocate()
            except BaseException:
                with self._lock:
                    self._count -= 1
                raise
        if block is None:
            if not self._warned:
                self._warned = True
                log.warning("all %d pinned %s buffers are held by callers: using ordinary memory from now on "
                            "(keep fewer results alive)", self.limit, self.what)
            return {n: np.empty(shape, dtype) for n, (dtype, shape, _) in self.layout.items()}
        flat, _ = block
        token = (ctypes.c_ubyte * self.nbytes).from_address(flat.ctypes.data)
        key = id(token)
        with self._lock:
            self._leases[key] = weakref.ref(token)
        done = weakref.finalize(token, self._release, block, key)
        done.atexit = False
        return {n: self._array(token, n) for n in self.layout}

    def _array(self, token, name):
        dtype, shape, offset = self.layout[name]
        return np.frombuffer(token, dtype, int(np.prod(shape)), offset).reshape(shape)

    def full_array(self, array, name):
        """The whole leased array of ``name`` when ``array`` starts at it (a view of a lease), else None."""
        token = array
        while isinstance(token, np.ndarray):      # views of views: down to the lease's token
            token = token.base
        ref = self._leases.get(id(token)) if token is not None else None
        if ref is None or ref() is not token or name not in self.layout:
            return None
        full = self._array(token, name)
        if array.ctypes.data != full.ctypes.data or not array.flags.c_contiguous or array.dtype != full.dtype:
            return None
        return full

    def _release(self, block, key):
        with self._lock:
            self._leases.pop(key, None)
            if not self._closed:
                self._idle.append(block)
                return
            self._count -= 1
        self._free(block)

    def _free(self, block):
        try:
            with self.device.current():
                self.lib.free_pinned(block[1])
        except Exception as e:        # a finalizer must not raise
            log.warning("freeing a pinned %s buffer: %s", self.what, e)

    @property
    def in_use(self):
        with self._lock:
            return self._count - len(self._idle)

    def close(self):
        """Free the idle blocks now; blocks still lent out are freed when their last array goes."""
        with self._lock:
            self._closed = True
            idle, self._idle = self._idle, []
            self._count -= len(idle)
        for block in idle:
            self._free(block)
