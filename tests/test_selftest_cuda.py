"""The CUDA-only device self-test against the fake cuda-python driver (the real run is on a device:
tools/DEVICE_RUN.md). Shows that every item passes on a well-behaved driver, that the leak and
thread items fail when memory is not given back, and that a machine without a GPU skips cleanly."""
import io

import pytest

from fakes import fake_cuda_python

from edgepose.backends import cudalib, gpubuffers
from edgepose.selftest import Report, cuda_checks, main


@pytest.fixture
def fresh(monkeypatch):
    monkeypatch.setattr(cudalib, "_LOADED", {})
    monkeypatch.setattr(gpubuffers.GpuDevice, "_devices", {})

    def install(**state):
        return fake_cuda_python.install(monkeypatch, **state)

    return install


def _run(libs=("cuda-python",)):
    out = io.StringIO()
    report = Report(out)
    cuda_checks.run_all(report, list(libs))
    return report, out.getvalue()


def test_all_cuda_items_pass_on_a_correct_driver(fresh):
    fresh()
    report, text = _run()
    items = {i[2]: i[0] for i in report.items}
    assert items == {"device": "PASS", "context.primary": "PASS", "buffers.roundtrip": "PASS",
                     "buffers.pinned": "PASS", "context.cross-thread": "PASS", "buffers.two-sets": "PASS",
                     "threads.concurrent": "PASS", "copy.p50": "PASS"}, text
    assert "Orin (sm 8.7" in text and "p50" in text
    st = fake_cuda_python.STATE
    assert not st.device_mem and not st.host_mem and not st.streams      # everything given back
    assert st.retains == 1                                               # one primary context, retained once


def test_a_driver_that_leaks_fails_the_memory_items(fresh):
    fresh(leak_free=True)
    report, text = _run()
    status = {i[2]: i[0] for i in report.items}
    assert status["context.cross-thread"] == "FAIL" and "drift" in text
    assert status["buffers.two-sets"] == "FAIL"
    assert report.failed


def test_no_gpu_skips_and_exits_zero(monkeypatch, capsys):
    monkeypatch.setattr(cudalib, "_LOADED", {})

    def no_driver(name):
        raise cudalib.DependencyError("cuda-python: the CUDA driver library is not loadable (libcuda.so.1)")

    monkeypatch.setattr(cuda_checks, "load_cuda", no_driver)
    monkeypatch.setattr("edgepose.engine.trt.has_cuda_device", lambda: False)
    assert main(["--cuda-only"]) == 0
    out = capsys.readouterr().out
    assert out.count("SKIP") == 2 and "FAIL" not in out and "0 failed" in out


def test_a_gpu_with_a_broken_library_fails(monkeypatch, capsys):
    monkeypatch.setattr(cudalib, "_LOADED", {})

    def broken(name):
        raise cudalib.DependencyError("cuda-python: cuInit failed (CUDA_ERROR_SYSTEM_DRIVER_MISMATCH)")

    monkeypatch.setattr(cuda_checks, "load_cuda", broken)
    monkeypatch.setattr("edgepose.engine.trt.has_cuda_device", lambda: True)
    assert main(["--cuda-only", "--library", "cuda-python"]) == 1
    assert "FAIL  cuda-python  library" in capsys.readouterr().out


def test_buffers_refuse_work_without_the_context(fresh):
    fresh()
    lib = cudalib.load_cuda("cuda-python")
    with pytest.raises(cudalib.BackendError, match="CUDA_ERROR_INVALID_CONTEXT"):
        lib.alloc(16)                      # no context current on this thread: the real driver refuses too
    dev = gpubuffers.GpuDevice.get(lib)
    bufs = gpubuffers.BufferSet(dev, {"x": ("float32", (2, 3))})
    assert fake_cuda_python.STATE.stack() == []      # allocation popped the context again
    bufs.free()
    bufs.free()                                       # idempotent
    assert not fake_cuda_python.STATE.device_mem


def test_pycuda_and_cuda_python_together(fresh, monkeypatch):
    from fakes import fake_pycuda

    fresh()
    fake_pycuda.install(monkeypatch)
    report, text = _run(("pycuda", "cuda-python"))
    bad = [i for i in report.items if i[0] != "PASS"]
    assert not bad, text
    assert ("PASS", "both", "coexist") == report.items[-1][:3]
    assert sum(1 for i in report.items if i[1] == "pycuda") == 8
    assert fake_pycuda.leaked_contexts() == 0
    assert not fake_cuda_python.STATE.device_mem and not fake_cuda_python.STATE.host_mem


def test_fake_pycuda_refuses_what_pycuda_refuses(monkeypatch):
    """The fake's rules, as the real pycuda: no allocation without a context, pop on an empty stack fails,
    detach from a foreign thread silently leaks, freeing off-thread without the context fails."""
    import threading

    from fakes import fake_pycuda as cuda

    cuda.install(monkeypatch)
    with pytest.raises(cuda.LogicError):
        cuda.Device(0)                       # before init()
    cuda.init()
    with pytest.raises(cuda.LogicError, match="no currently active context"):
        cuda.pagelocked_empty(4, "float32")
    with pytest.raises(cuda.LogicError):
        cuda.Context.pop()
    ctx = cuda.Device(0).retain_primary_context()
    ctx.push()
    mem = cuda.mem_alloc(64)
    cuda.Context.pop()
    errors = []
    t = threading.Thread(target=lambda: errors.append(pytest.raises(cuda.LogicError, mem.free)))
    t.start()
    t.join()
    assert errors and mem.ptr is not None    # not freed from the foreign thread
    t = threading.Thread(target=ctx.detach)
    t.start()
    t.join()
    assert cuda.leaked_contexts() == 1       # detach off-thread: nothing released
