"""A fake ``pycuda`` package (``pycuda.driver``) for the TensorRT backend's logic tests.

Device memory is simulated with byte arrays registered by fake address; copies really move bytes,
so the fake TensorRT context can "compute" on what was uploaded. Records every call in ``CALLS``,
which pinned host arrays were allocated (``PINNED``), live allocations (``ALLOCATIONS``) and the
context stack per thread.
"""
import itertools
import threading
import types

import numpy as np

CALLS = []
PINNED = []
ALLOCATIONS = {}
_addr = itertools.count(0x10000, 0x1000)
_local = threading.local()
INITIALISED = [False]


def _stack():
    if not hasattr(_local, "stack"):
        _local.stack = []
    return _local.stack


def current_context():
    s = _stack()
    return s[-1] if s else None


def reset():
    del CALLS[:]
    del PINNED[:]
    ALLOCATIONS.clear()
    _stack().clear()


def init():
    INITIALISED[0] = True
    CALLS.append(("init",))


class Context:
    def __init__(self, device):
        self.device = device
        self.detached = False

    def push(self):
        CALLS.append(("push",))
        _stack().append(self)

    def pop(self):
        CALLS.append(("pop",))
        s = _stack()
        if not s or s[-1] is not self:
            raise RuntimeError("pop: this context is not current on this thread")
        s.pop()

    def detach(self):
        CALLS.append(("detach",))
        self.detached = True


class Device:
    def __init__(self, index):
        if not INITIALISED[0]:
            raise RuntimeError("cuInit has not been called")
        self.index = index

    def name(self):
        return "Fake Orin"

    def compute_capability(self):
        return (8, 7)

    def make_context(self):
        CALLS.append(("make_context",))
        ctx = Context(self)
        _stack().append(ctx)
        return ctx


class DeviceAllocation:
    def __init__(self, nbytes):
        self.address = next(_addr)
        self.buf = np.zeros(int(nbytes), dtype=np.uint8)
        self.freed = False
        ALLOCATIONS[self.address] = self

    def __int__(self):
        return self.address

    def free(self):
        CALLS.append(("free", self.address))
        self.freed = True
        ALLOCATIONS.pop(self.address, None)


class Stream:
    def __init__(self):
        self.handle = next(_addr)

    def synchronize(self):
        CALLS.append(("synchronize",))


def pagelocked_empty(shape, dtype):
    a = np.empty(shape, dtype=dtype)
    PINNED.append(a)
    CALLS.append(("pagelocked_empty", a.shape, np.dtype(dtype).name))
    return a


def mem_alloc(nbytes):
    if current_context() is None:
        raise RuntimeError("mem_alloc without a current context")
    CALLS.append(("mem_alloc", int(nbytes)))
    return DeviceAllocation(nbytes)


def is_pinned(array):
    return any(np.shares_memory(array, p) for p in PINNED)


def _alloc(dest):
    a = ALLOCATIONS.get(int(dest))
    if a is None:
        raise RuntimeError("invalid device pointer %#x" % int(dest))
    return a


def memcpy_htod_async(dest, src, stream=None):
    src = np.ascontiguousarray(src)
    CALLS.append(("memcpy_htod_async", int(dest), src.nbytes, is_pinned(src)))
    a = _alloc(dest)
    a.buf[:src.nbytes] = src.view(np.uint8).reshape(-1)


def memcpy_dtoh_async(dest, src, stream=None):
    CALLS.append(("memcpy_dtoh_async", int(src), dest.nbytes, is_pinned(dest)))
    a = _alloc(src)
    dest.view(np.uint8).reshape(-1)[:] = a.buf[:dest.nbytes]


def device_array(address, shape, dtype):
    n = int(np.prod(shape)) * np.dtype(dtype).itemsize
    return _alloc(address).buf[:n].view(dtype).reshape(shape)


def device_write(address, array):
    b = np.ascontiguousarray(array).view(np.uint8).reshape(-1)
    _alloc(address).buf[:b.size] = b


def as_package():
    """``(pycuda, pycuda.driver)`` module objects to put in ``sys.modules``."""
    import sys

    driver = sys.modules[__name__]
    pkg = types.ModuleType("pycuda")
    pkg.driver = driver
    pkg.__path__ = []
    return pkg, driver
