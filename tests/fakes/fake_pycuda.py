"""FAKE pycuda (test-only): records copies so tests can see what reached the "device"."""
import sys
import types

import numpy as np


class FakeDeviceAllocation:
    _next = 0x1000

    def __init__(self, nbytes):
        self.nbytes = nbytes
        self.ptr = FakeDeviceAllocation._next
        FakeDeviceAllocation._next += 0x100000
        self.copies = []
        self.freed = False

    def __int__(self):
        return self.ptr

    def free(self):
        self.freed = True


class FakeContext:
    def __init__(self, log):
        self.log = log

    def push(self):
        self.log.append("ctx.push")

    def pop(self):
        self.log.append("ctx.pop")


def make_fake_pycuda(name="Orin", cc=(8, 7), count=1):
    """``(pycuda package module, pycuda.driver module)``; ``driver.log`` lists calls, ``driver.allocations``."""
    drv = types.ModuleType("pycuda.driver")
    drv.log = []
    drv.allocations = []

    class Device:
        def __init__(self, i):
            if i >= count:
                raise RuntimeError("invalid device ordinal")

        @staticmethod
        def count():
            return count

        def name(self):
            return name

        def compute_capability(self):
            return cc

        def total_memory(self):
            return 8 << 30

        def retain_primary_context(self):
            return FakeContext(drv.log)

    def mem_alloc(nbytes):
        a = FakeDeviceAllocation(nbytes)
        drv.allocations.append(a)
        return a

    def memcpy_htod(dst, src):
        dst.copies.append(np.array(src, copy=True))

    drv.init = lambda: drv.log.append("init")
    drv.Device = Device
    drv.mem_alloc = mem_alloc
    drv.memcpy_htod = memcpy_htod
    drv.pagelocked_empty = lambda shape, dtype: np.empty(shape, dtype)
    drv.get_version = lambda: (12, 2, 0)
    pkg = types.ModuleType("pycuda")
    pkg.driver = drv
    pkg.__version__ = "2024.1-fake"
    return pkg, drv


def install(monkeypatch, **kw):
    pkg, drv = make_fake_pycuda(**kw)
    monkeypatch.setitem(sys.modules, "pycuda", pkg)
    monkeypatch.setitem(sys.modules, "pycuda.driver", drv)
    return drv
