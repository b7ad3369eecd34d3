"""The CUDA buffer library behind one small interface: pycuda or cuda-python (``cuda.bindings``).

NVIDIA's TensorRT samples moved from pycuda to cuda-python in TensorRT 10.14; cuda-python has
aarch64 wheels while pycuda must be compiled on the Jetson. Both stay supported: ``load_cuda()``
picks pycuda first, then cuda-python (``EDGEPOSE_CUDA=pycuda|cuda-python`` or ``prefer=`` forces
one). Both adapters speak the CUDA *driver* API with the device's **primary context** (the one the
CUDA runtime, and so TensorRT, uses), pushed and popped explicitly around every call; nothing here
creates a context of its own.

The adapter interface (all a caller needs; sizes in bytes, pointers as ints):

- ``name``, ``version``; ``device_count()``, ``device(index) -> DeviceInfo``
- ``retain_primary(index) -> ctx``, ``push(ctx)``, ``pop()``, ``context_handle(ctx)``; ``current_handle()``
  and ``is_pinned(address)`` (cuda-python only, None with pycuda: used by the self-test)
- ``mem_get_info() -> (free, total)``                                  (needs a current context)
- ``pinned_empty(count, dtype) -> (array, handle)``, ``free_pinned(handle)``   (current context)
- ``alloc(nbytes) -> (ptr, handle)``, ``free(handle)``                  (current context)
- ``stream_create() -> stream``, ``stream_handle(stream) -> int``, ``stream_sync(stream)``,
  ``stream_destroy(stream)``; ``htod_async(ptr, host, stream)``, ``dtoh_async(host, ptr, stream)``

The libraries are imported lazily through ``edgepose.engine.trt`` (the seam with install hints).
"""
import ctypes
import os
import sys
import threading
from dataclasses import dataclass

import numpy as np

from ..engine.trt import first_line
from ..errors import BackendError, DependencyError

LIBRARIES = ("pycuda", "cuda-python")


@dataclass(frozen=True)
class DeviceInfo:
    index: int
    name: str
    compute_capability: str      # "8.7"
    total_memory: int            # bytes
    integrated: bool             # Jetson: GPU and CPU share memory


class PycudaLib:
    """pycuda (``pycuda.driver``). Its ``Context.detach`` only works on the thread that retained the
    context, so the primary context is retained once per process and never detached here."""

    name = "pycuda"

    def __init__(self):
        from ..engine.trt import import_pycuda

        self.drv = import_pycuda()
        try:
            self.drv.init()
        except Exception as e:
            raise DependencyError("pycuda: cuInit failed (%s): check the NVIDIA driver (nvidia-smi or tegrastats)"
                                  % first_line(e))
        pkg = sys.modules.get("pycuda")
        self.version = str(getattr(pkg, "VERSION_TEXT", None) or getattr(pkg, "__version__", "?"))

    def device_count(self):
        return int(self.drv.Device.count())

    def device(self, index):
        d = self.drv.Device(index)
        major, minor = d.compute_capability()
        integrated = bool(d.get_attribute(self.drv.device_attribute.INTEGRATED))
        return DeviceInfo(index, str(d.name()), "%d.%d" % (major, minor), int(d.total_memory()), integrated)

    def retain_primary(self, index):
        return self.drv.Device(index).retain_primary_context()

    def push(self, ctx):
        ctx.push()

    def pop(self):
        self.drv.Context.pop()

    def current_handle(self):
        return None     # pycuda does not expose cuCtxGetCurrent; the self-test asks cuda-python instead

    def context_handle(self, ctx):
        handle = getattr(ctx, "handle", None)     # older pycuda has no Context.handle
        return int(handle) if handle is not None else None

    def is_pinned(self, address):
        return None     # not answerable through pycuda; the self-test asks cuda-python

    def mem_get_info(self):
        free, total = self.drv.mem_get_info()
        return int(free), int(total)

    def pinned_empty(self, count, dtype):
        a = self.drv.pagelocked_empty(int(count), np.dtype(dtype))
        return a, a.base          # PagelockedHostAllocation: .free()

    def free_pinned(self, handle):
        handle.free()

    def alloc(self, nbytes):
        a = self.drv.mem_alloc(max(1, int(nbytes)))
        return int(a), a

    def free(self, handle):
        handle.free()

    def stream_create(self):
        return self.drv.Stream()

    def stream_handle(self, stream):
        return int(stream.handle)

    def stream_sync(self, stream):
        stream.synchronize()

    def stream_destroy(self, stream):
        pass            # pycuda destroys the stream when the object goes (drop it under a current context)

    def htod_async(self, ptr, host, stream):
        self.drv.memcpy_htod_async(ptr, host, stream)

    def dtoh_async(self, host, ptr, stream):
        self.drv.memcpy_dtoh_async(host, ptr, stream)


class CudaPythonLib:
    """cuda-python's driver bindings (``cuda.bindings.driver``, or ``cuda.cuda`` before 12.6). Every
    call returns a tuple ``(CUresult, *values)``; a result other than CUDA_SUCCESS raises BackendError."""

    name = "cuda-python"

    def __init__(self):
        from ..engine.trt import import_cuda_python

        self.cu, self.version = import_cuda_python()
        try:
            self._call("cuInit", 0)
        except BackendError:
            raise
        except Exception as e:      # no libcuda.so.1: cuda-python raises on the first call
            raise DependencyError("cuda-python: the CUDA driver library is not loadable (%s): check the NVIDIA "
                                  "driver (nvidia-smi or tegrastats)" % first_line(e))

    def _call(self, fn, *args):
        res = getattr(self.cu, fn)(*args)
        if not isinstance(res, tuple):
            res = (res,)
        err = res[0]
        if int(err) != 0:
            try:
                text = self.cu.cuGetErrorString(err)[1]
                text = text.decode() if isinstance(text, bytes) else str(text)
            except Exception:
                text = "?"
            raise BackendError("CUDA %s failed: %s (%s)" % (fn, getattr(err, "name", int(err)), text))
        if len(res) == 1:
            return None
        return res[1] if len(res) == 2 else res[1:]

    def device_count(self):
        return int(self._call("cuDeviceGetCount"))

    def _attr(self, dev, name):
        return int(self._call("cuDeviceGetAttribute", getattr(self.cu.CUdevice_attribute, name), dev))

    def device(self, index):
        dev = self._call("cuDeviceGet", int(index))
        raw = self._call("cuDeviceGetName", 256, dev)
        name = raw.split(b"\x00", 1)[0].decode("utf-8", "replace") if isinstance(raw, bytes) else str(raw)
        cc = "%d.%d" % (self._attr(dev, "CU_DEVICE_ATTRIBUTE_COMPUTE_CAPABILITY_MAJOR"),
                        self._attr(dev, "CU_DEVICE_ATTRIBUTE_COMPUTE_CAPABILITY_MINOR"))
        total = int(self._call("cuDeviceTotalMem", dev))
        return DeviceInfo(index, name, cc, total, bool(self._attr(dev, "CU_DEVICE_ATTRIBUTE_INTEGRATED")))

    def retain_primary(self, index):
        dev = self._call("cuDeviceGet", int(index))
        return self._call("cuDevicePrimaryCtxRetain", dev)

    def push(self, ctx):
        self._call("cuCtxPushCurrent", ctx)

    def pop(self):
        self._call("cuCtxPopCurrent")

    def current_handle(self):
        ctx = self._call("cuCtxGetCurrent")
        return int(ctx) if ctx is not None else 0

    def context_handle(self, ctx):
        return int(ctx)

    def is_pinned(self, address):
        """True when ``address`` is page-locked memory from cuMemHostAlloc (needs a current context)."""
        res = self.cu.cuMemHostGetFlags(int(address))
        return int(res[0]) == 0

    def mem_get_info(self):
        free, total = self._call("cuMemGetInfo")
        return int(free), int(total)

    def pinned_empty(self, count, dtype):
        dtype = np.dtype(dtype)
        nbytes = max(1, int(count) * dtype.itemsize)
        ptr = int(self._call("cuMemHostAlloc", nbytes, 0))
        raw = (ctypes.c_ubyte * nbytes).from_address(ptr)
        return np.frombuffer(raw, dtype=dtype, count=int(count)), ptr

    def free_pinned(self, handle):
        self._call("cuMemFreeHost", handle)

    def alloc(self, nbytes):
        ptr = self._call("cuMemAlloc", max(1, int(nbytes)))
        return int(ptr), ptr

    def free(self, handle):
        self._call("cuMemFree", handle)

    def stream_create(self):
        return self._call("cuStreamCreate", 0)

    def stream_handle(self, stream):
        return int(stream)

    def stream_sync(self, stream):
        self._call("cuStreamSynchronize", stream)

    def stream_destroy(self, stream):
        self._call("cuStreamDestroy", stream)

    def htod_async(self, ptr, host, stream):
        self._call("cuMemcpyHtoDAsync", self.cu.CUdeviceptr(int(ptr)), host.ctypes.data, host.nbytes, stream)

    def dtoh_async(self, host, ptr, stream):
        self._call("cuMemcpyDtoHAsync", host.ctypes.data, self.cu.CUdeviceptr(int(ptr)), host.nbytes, stream)


_ADAPTERS = {"pycuda": PycudaLib, "cuda-python": CudaPythonLib}
_LOADED = {}
_LOCK = threading.Lock()


def load_cuda(prefer=None):
    """The CUDA adapter to use: ``prefer`` (or ``$EDGEPOSE_CUDA``) when given, else pycuda, else
    cuda-python. One instance per library per process. ``DependencyError`` names both when neither works."""
    prefer = prefer or os.environ.get("EDGEPOSE_CUDA") or None
    if prefer is not None and prefer not in _ADAPTERS:
        raise DependencyError("unknown CUDA library %r (EDGEPOSE_CUDA): use one of %s" % (prefer, ", ".join(LIBRARIES)))
    names = [prefer] if prefer else list(LIBRARIES)
    errors = []
    with _LOCK:
        for name in names:
            if name in _LOADED:
                return _LOADED[name]
            try:
                lib = _ADAPTERS[name]()
            except DependencyError as e:
                errors.append(str(e))
                continue
            _LOADED[name] = lib
            return lib
    if len(errors) == 1:
        raise DependencyError(errors[0])
    raise DependencyError("no usable CUDA library: " + "; ".join(errors))
