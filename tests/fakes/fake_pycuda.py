"""FAKE pycuda (``pycuda`` + ``pycuda.driver``), test-only, on the same fake GPU as ``fake_cuda_python``.

It keeps pycuda's own rules, which are stricter than the driver's:

- ``Device(i)`` before ``init()`` raises LogicError;
- ``pagelocked_empty``, ``mem_alloc``, ``Stream``, copies and ``mem_get_info`` need a current context on
  the calling thread (LogicError "no currently active context?" otherwise);
- ``Context.pop()`` (static) pops this thread's stack, LogicError when it is empty;
- ``Context.detach()`` from a thread other than the one that made/retained the context, while the context
  is not current there, silently does nothing (pycuda's behaviour): the context leaks (``STATE.leaked``);
- freeing an allocation while its context is not current on the calling thread, from another thread than
  the context's, raises LogicError ("cannot activate out-of-thread context").

The arrays of ``pagelocked_empty`` have ``.base`` = a ``PagelockedHostAllocation`` with ``free()``.
``install(monkeypatch)`` puts ``pycuda``/``pycuda.driver`` in ``sys.modules`` (fake driver state reset).
"""
import ctypes
import sys
import threading
import types

import numpy as np

from . import fake_cuda_python as drv

VERSION_TEXT = "2026.1-fake"


class Error(Exception):
    pass


class LogicError(Error):
    pass


class _Local(threading.local):
    def __init__(self):
        self.stack = []


_local = _Local()
_state = {"init": False, "leaked": 0}


def init(flags=0):
    drv.cuInit(0)
    _state["init"] = True


def _check(res, what):
    if int(res[0]) != 0:
        raise LogicError("%s failed: %s" % (what, drv.CUresult(int(res[0])).name))
    return res[1] if len(res) > 1 else None


def _need_context(what):
    if not _local.stack:
        raise LogicError("%s failed: invalid device context - no currently active context?" % what)
    return _local.stack[-1]


class device_attribute:
    INTEGRATED = drv.CUdevice_attribute.CU_DEVICE_ATTRIBUTE_INTEGRATED


class Device:
    def __init__(self, index):
        if not _state["init"]:
            raise LogicError("cuDeviceGet failed: initialization error")
        _check(drv.cuDeviceGet(index), "cuDeviceGet")
        self.index = index

    @staticmethod
    def count():
        if not _state["init"]:
            raise LogicError("cuDeviceGetCount failed: initialization error")
        return _check(drv.cuDeviceGetCount(), "cuDeviceGetCount")

    def name(self):
        return drv.STATE.name.decode()

    def compute_capability(self):
        return drv.STATE.cc

    def total_memory(self):
        return drv.STATE.total

    def get_attribute(self, attr):
        return _check(drv.cuDeviceGetAttribute(attr, drv.CUdevice(self.index)), "cuDeviceGetAttribute")

    def retain_primary_context(self):
        handle = _check(drv.cuDevicePrimaryCtxRetain(drv.CUdevice(self.index)), "cuDevicePrimaryCtxRetain")
        return Context(handle, primary=True)

    def make_context(self, flags=0):
        ctx = Context(drv.CUcontext(0x6000 + len(drv.STATE.calls)), primary=False)
        ctx.push()
        return ctx


class Context:
    def __init__(self, handle, primary):
        self._handle, self.primary = handle, primary
        self.thread = threading.get_ident()
        self.valid = True

    @property
    def handle(self):
        return int(self._handle)

    def push(self):
        _check(drv.cuCtxPushCurrent(self._handle), "cuCtxPushCurrent")
        _local.stack.append(self)

    @staticmethod
    def pop():
        if not _local.stack:
            raise LogicError("context::pop failed: cannot pop non-current context")
        _local.stack.pop()
        drv.cuCtxPopCurrent()

    @staticmethod
    def get_current():
        return _local.stack[-1] if _local.stack else None

    def detach(self):
        if not self.valid:
            raise LogicError("context::detach failed: cannot detach from invalid context")
        current = bool(_local.stack) and _local.stack[-1] is self
        if current or self.thread == threading.get_ident():
            if self.primary:
                drv.cuDevicePrimaryCtxRelease(drv.CUdevice(0))
        else:
            _state["leaked"] += 1           # pycuda: "leaked out-of-thread context", silently
        self.valid = False
        if current:
            _local.stack.pop()


def _activate_for_free(ctx, what):
    """pycuda's scoped_context_activation when freeing: fine if ``ctx`` is current here or this is its thread."""
    if _local.stack and _local.stack[-1] is ctx:
        return False
    if ctx.thread != threading.get_ident():
        raise LogicError("%s: cannot activate out-of-thread context" % what)
    ctx.push()
    return True


class DeviceAllocation:
    def __init__(self, nbytes):
        self.ctx = _need_context("mem_alloc")
        self.ptr = _check(drv.cuMemAlloc(int(nbytes)), "cuMemAlloc")
        self.nbytes = int(nbytes)

    def __int__(self):
        return int(self.ptr)

    __index__ = __int__

    def free(self):
        if self.ptr is None:
            return
        pushed = _activate_for_free(self.ctx, "DeviceAllocation.free")
        try:
            _check(drv.cuMemFree(self.ptr), "cuMemFree")
        finally:
            if pushed:
                Context.pop()
        self.ptr = None


def mem_alloc(nbytes):
    return DeviceAllocation(nbytes)


def _host_allocation_class(nbytes):
    class PagelockedHostAllocation(ctypes.c_ubyte * nbytes):
        def free(self):
            if getattr(self, "_freed", False):
                return
            pushed = _activate_for_free(self._ctx, "PagelockedHostAllocation.free")
            try:
                _check(drv.cuMemFreeHost(self._addr), "cuMemFreeHost")
            finally:
                if pushed:
                    Context.pop()
            self._freed = True

    return PagelockedHostAllocation


def pagelocked_empty(shape, dtype, order="C", mem_flags=0):
    ctx = _need_context("pagelocked_empty")
    dtype = np.dtype(dtype)
    count = int(np.prod(shape))
    nbytes = max(1, count * dtype.itemsize)
    addr = _check(drv.cuMemHostAlloc(nbytes, 0), "cuMemHostAlloc")
    alloc = _host_allocation_class(nbytes).from_address(addr)
    alloc._ctx, alloc._addr = ctx, addr
    return np.ndarray(shape, dtype=dtype, buffer=alloc)      # .base is the allocation, as in pycuda


class Stream:
    def __init__(self, flags=0):
        _need_context("Stream")
        self._s = _check(drv.cuStreamCreate(0), "cuStreamCreate")

    @property
    def handle(self):
        return int(self._s)

    def __del__(self):          # pycuda destroys the stream when the object goes
        drv.STATE.streams.discard(int(self._s))

    def synchronize(self):
        _need_context("Stream.synchronize")
        _check(drv.cuStreamSynchronize(self._s), "cuStreamSynchronize")


def _ptr(dev):
    return drv.CUdeviceptr(int(dev))


def memcpy_htod_async(dest, src, stream=None):
    _need_context("memcpy_htod_async")
    src = np.ascontiguousarray(src)
    _check(drv.cuMemcpyHtoDAsync(_ptr(dest), src.ctypes.data, src.nbytes,
                                 stream._s if stream is not None else drv.CUstream(0)), "cuMemcpyHtoDAsync")


def memcpy_dtoh_async(dest, src, stream=None):
    _need_context("memcpy_dtoh_async")
    if not dest.flags.c_contiguous:
        raise LogicError("memcpy_dtoh_async: destination must be contiguous")
    _check(drv.cuMemcpyDtoHAsync(dest.ctypes.data, _ptr(src), dest.nbytes,
                                 stream._s if stream is not None else drv.CUstream(0)), "cuMemcpyDtoHAsync")


def memcpy_htod(dest, src):
    memcpy_htod_async(dest, src)


def mem_get_info():
    _need_context("mem_get_info")
    res = drv.cuMemGetInfo()
    return int(res[1]), int(res[2])


def leaked_contexts():
    return _state["leaked"]


def install(monkeypatch, **state):
    """Fake pycuda in ``sys.modules`` on a fresh fake GPU (``fake_cuda_python`` state); returns the driver module."""
    drv.reset(**state)
    _state.update(init=False, leaked=0)
    _local.stack = []
    me = sys.modules[__name__]
    pkg = types.ModuleType("pycuda")
    pkg.__path__ = []
    pkg.driver = me
    pkg.VERSION_TEXT = VERSION_TEXT
    monkeypatch.setitem(sys.modules, "pycuda", pkg)
    monkeypatch.setitem(sys.modules, "pycuda.driver", me)
    return me
