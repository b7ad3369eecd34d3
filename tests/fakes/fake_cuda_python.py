"""FAKE cuda-python driver bindings (``cuda.bindings.driver``), test-only.

Mimics what edgepose calls, with the real library's conventions and refusals:

- every call returns a tuple ``(CUresult, *values)``; nothing raises for a CUDA error;
- any call before ``cuInit(0)`` returns CUDA_ERROR_NOT_INITIALIZED;
- allocations, copies, streams and ``cuMemGetInfo`` need a current context on the *calling thread*
  (CUDA_ERROR_INVALID_CONTEXT otherwise); the context stack is per thread;
- ``cuCtxPopCurrent`` on an empty stack is CUDA_ERROR_INVALID_CONTEXT; releasing a primary context
  that was never retained likewise;
- host memory from ``cuMemHostAlloc`` is real (ctypes), so numpy views over it work; device memory
  is bytes keyed by fake addresses; copies move real bytes and are bounds-checked;
  ``cuMemHostGetFlags`` succeeds only for pinned allocations.

``STATE`` exposes what tests assert on (allocated bytes, live allocations, retain counts).
``install(monkeypatch)`` puts it in ``sys.modules`` as ``cuda.bindings.driver``.
"""
import ctypes
import enum
import itertools
import sys
import threading
import types

__version__ = "13.0.0-fake"


class CUresult(enum.IntEnum):
    CUDA_SUCCESS = 0
    CUDA_ERROR_INVALID_VALUE = 1
    CUDA_ERROR_OUT_OF_MEMORY = 2
    CUDA_ERROR_NOT_INITIALIZED = 3
    CUDA_ERROR_INVALID_DEVICE = 101
    CUDA_ERROR_INVALID_CONTEXT = 201


class CUdevice_attribute(enum.IntEnum):
    CU_DEVICE_ATTRIBUTE_COMPUTE_CAPABILITY_MAJOR = 75
    CU_DEVICE_ATTRIBUTE_COMPUTE_CAPABILITY_MINOR = 76
    CU_DEVICE_ATTRIBUTE_INTEGRATED = 18


class _Handle:
    def __init__(self, value=0):
        self._v = int(value)

    def __int__(self):
        return self._v

    def __eq__(self, other):
        return type(other) is type(self) and int(other) == self._v

    def __hash__(self):
        return hash((type(self).__name__, self._v))


class CUdevice(_Handle):
    pass


class CUcontext(_Handle):
    pass


class CUstream(_Handle):
    pass


class CUdeviceptr(_Handle):
    pass


class _State:
    def __init__(self, total=8 << 30, name=b"Orin", cc=(8, 7), integrated=True, leak_free=False):
        self.total, self.name, self.cc, self.integrated = total, name, cc, integrated
        self.leak_free = leak_free          # a deliberately broken driver: cuMemFree frees nothing
        self.initialised = False
        self.lock = threading.Lock()
        self.local = threading.local()
        self.device_mem = {}                # address -> bytearray
        self.host_mem = {}                  # address -> ctypes buffer
        self.streams = set()
        self.retains = 0
        self.addr = itertools.count(0x7f0000000000, 0x100000)
        self.calls = []

    @property
    def used(self):
        return sum(len(b) for b in self.device_mem.values()) + (
            sum(ctypes.sizeof(b) for b in self.host_mem.values()) if self.integrated else 0)

    def stack(self):
        if not hasattr(self.local, "stack"):
            self.local.stack = []
        return self.local.stack


STATE = _State()
PRIMARY = CUcontext(0x5000)


def reset(**kw):
    global STATE
    STATE = _State(**kw)
    return STATE


def _guard(need_context=True):
    if not STATE.initialised:
        return CUresult.CUDA_ERROR_NOT_INITIALIZED
    if need_context and not STATE.stack():
        return CUresult.CUDA_ERROR_INVALID_CONTEXT
    return None


def cuInit(flags):
    if flags != 0:
        return (CUresult.CUDA_ERROR_INVALID_VALUE,)
    STATE.initialised = True
    return (CUresult.CUDA_SUCCESS,)


def cuGetErrorString(error):
    return (CUresult.CUDA_SUCCESS, ("fake: %s" % CUresult(int(error)).name).encode())


def cuDriverGetVersion():
    return (CUresult.CUDA_SUCCESS, 13000)


def cuDeviceGetCount():
    err = _guard(False)
    return (err, 0) if err else (CUresult.CUDA_SUCCESS, 1)


def cuDeviceGet(ordinal):
    err = _guard(False)
    if err:
        return (err, None)
    if ordinal != 0:
        return (CUresult.CUDA_ERROR_INVALID_DEVICE, None)
    return (CUresult.CUDA_SUCCESS, CUdevice(0))


def cuDeviceGetName(length, dev):
    err = _guard(False)
    return (err, b"") if err else (CUresult.CUDA_SUCCESS, STATE.name + b"\x00" * (length - len(STATE.name)))


def cuDeviceGetAttribute(attrib, dev):
    err = _guard(False)
    if err:
        return (err, 0)
    values = {CUdevice_attribute.CU_DEVICE_ATTRIBUTE_COMPUTE_CAPABILITY_MAJOR: STATE.cc[0],
              CUdevice_attribute.CU_DEVICE_ATTRIBUTE_COMPUTE_CAPABILITY_MINOR: STATE.cc[1],
              CUdevice_attribute.CU_DEVICE_ATTRIBUTE_INTEGRATED: int(STATE.integrated)}
    return (CUresult.CUDA_SUCCESS, values[CUdevice_attribute(int(attrib))])


def cuDeviceTotalMem(dev):
    err = _guard(False)
    return (err, 0) if err else (CUresult.CUDA_SUCCESS, STATE.total)


def cuDevicePrimaryCtxRetain(dev):
    err = _guard(False)
    if err:
        return (err, None)
    with STATE.lock:
        STATE.retains += 1
    return (CUresult.CUDA_SUCCESS, PRIMARY)


def cuDevicePrimaryCtxRelease(dev):
    err = _guard(False)
    if err:
        return (err,)
    with STATE.lock:
        if STATE.retains == 0:
            return (CUresult.CUDA_ERROR_INVALID_CONTEXT,)
        STATE.retains -= 1
    return (CUresult.CUDA_SUCCESS,)


def cuCtxPushCurrent(ctx):
    err = _guard(False)
    if err:
        return (err,)
    if not isinstance(ctx, CUcontext) or int(ctx) == 0:
        return (CUresult.CUDA_ERROR_INVALID_VALUE,)
    STATE.stack().append(ctx)
    return (CUresult.CUDA_SUCCESS,)


def cuCtxPopCurrent():
    err = _guard(True)
    if err:
        return (err, None)
    return (CUresult.CUDA_SUCCESS, STATE.stack().pop())


def cuCtxGetCurrent():
    err = _guard(False)
    if err:
        return (err, None)
    s = STATE.stack()
    return (CUresult.CUDA_SUCCESS, s[-1] if s else CUcontext(0))


def cuMemGetInfo():
    err = _guard(True)
    if err:
        return (err, 0, 0)
    return (CUresult.CUDA_SUCCESS, STATE.total - STATE.used, STATE.total)


def cuMemHostAlloc(bytesize, flags):
    err = _guard(True)
    if err:
        return (err, 0)
    buf = (ctypes.c_ubyte * int(bytesize))()
    addr = ctypes.addressof(buf)
    with STATE.lock:
        STATE.host_mem[addr] = buf
    return (CUresult.CUDA_SUCCESS, addr)


def cuMemFreeHost(p):
    err = _guard(True)
    if err:
        return (err,)
    with STATE.lock:
        if STATE.host_mem.pop(int(p), None) is None:
            return (CUresult.CUDA_ERROR_INVALID_VALUE,)
    return (CUresult.CUDA_SUCCESS,)


def cuMemHostGetFlags(p):
    err = _guard(True)
    if err:
        return (err, 0)
    return (CUresult.CUDA_SUCCESS, 0) if int(p) in STATE.host_mem else (CUresult.CUDA_ERROR_INVALID_VALUE, 0)


def cuMemAlloc(bytesize):
    err = _guard(True)
    if err:
        return (err, None)
    if STATE.used + int(bytesize) > STATE.total:
        return (CUresult.CUDA_ERROR_OUT_OF_MEMORY, None)
    with STATE.lock:
        addr = next(STATE.addr)
        STATE.device_mem[addr] = bytearray(int(bytesize))
    return (CUresult.CUDA_SUCCESS, CUdeviceptr(addr))


def cuMemFree(dptr):
    err = _guard(True)
    if err:
        return (err,)
    with STATE.lock:
        if int(dptr) not in STATE.device_mem:
            return (CUresult.CUDA_ERROR_INVALID_VALUE,)
        if not STATE.leak_free:
            del STATE.device_mem[int(dptr)]
    return (CUresult.CUDA_SUCCESS,)


def _stream_ok(stream):
    return isinstance(stream, CUstream) and (int(stream) == 0 or int(stream) in STATE.streams)


def cuStreamCreate(flags):
    err = _guard(True)
    if err:
        return (err, None)
    with STATE.lock:
        h = next(STATE.addr)
        STATE.streams.add(h)
    return (CUresult.CUDA_SUCCESS, CUstream(h))


def cuStreamSynchronize(stream):
    err = _guard(True)
    if err:
        return (err,)
    return (CUresult.CUDA_SUCCESS,) if _stream_ok(stream) else (CUresult.CUDA_ERROR_INVALID_VALUE,)


def cuStreamDestroy(stream):
    err = _guard(True)
    if err:
        return (err,)
    with STATE.lock:
        if int(stream) not in STATE.streams:
            return (CUresult.CUDA_ERROR_INVALID_VALUE,)
        STATE.streams.discard(int(stream))
    return (CUresult.CUDA_SUCCESS,)


def _device_range(dptr, nbytes):
    if not isinstance(dptr, CUdeviceptr):
        return None
    mem = STATE.device_mem.get(int(dptr))
    if mem is None or nbytes > len(mem):
        return None
    return mem


def cuMemcpyHtoDAsync(dstDevice, srcHost, ByteCount, hStream):
    err = _guard(True)
    if err:
        return (err,)
    mem = _device_range(dstDevice, ByteCount)
    if mem is None or not _stream_ok(hStream) or not isinstance(srcHost, int):
        return (CUresult.CUDA_ERROR_INVALID_VALUE,)
    mem[:ByteCount] = ctypes.string_at(srcHost, ByteCount)
    STATE.calls.append(("htod", int(dstDevice), ByteCount, srcHost))
    return (CUresult.CUDA_SUCCESS,)


def cuMemcpyDtoHAsync(dstHost, srcDevice, ByteCount, hStream):
    err = _guard(True)
    if err:
        return (err,)
    mem = _device_range(srcDevice, ByteCount)
    if mem is None or not _stream_ok(hStream) or not isinstance(dstHost, int):
        return (CUresult.CUDA_ERROR_INVALID_VALUE,)
    ctypes.memmove(dstHost, bytes(mem[:ByteCount]), ByteCount)
    STATE.calls.append(("dtoh", int(srcDevice), ByteCount, dstHost))
    return (CUresult.CUDA_SUCCESS,)


def install(monkeypatch, **state):
    """Put this fake in ``sys.modules`` as ``cuda.bindings.driver`` with a fresh state; returns the module."""
    reset(**state)
    me = sys.modules[__name__]
    cuda_pkg = types.ModuleType("cuda")
    cuda_pkg.__path__ = []
    bindings = types.ModuleType("cuda.bindings")
    bindings.__path__ = []
    bindings.__version__ = __version__
    bindings.driver = me
    cuda_pkg.bindings = bindings
    monkeypatch.setitem(sys.modules, "cuda", cuda_pkg)
    monkeypatch.setitem(sys.modules, "cuda.bindings", bindings)
    monkeypatch.setitem(sys.modules, "cuda.bindings.driver", me)
    return me


def reset_caches(monkeypatch):
    """Forget the CUDA adapters and devices edgepose loaded (they are per process)."""
    from edgepose.backends import cudalib, gpubuffers

    monkeypatch.setattr(cudalib, "_LOADED", {})
    monkeypatch.setattr(gpubuffers.GpuDevice, "_devices", {})


def block(monkeypatch):
    """No cuda-python at all (``import cuda.bindings`` fails), whatever is installed here."""
    for name in ("cuda", "cuda.bindings", "cuda.bindings.driver", "cuda.cuda"):
        monkeypatch.setitem(sys.modules, name, None)
    reset_caches(monkeypatch)
