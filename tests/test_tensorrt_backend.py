"""TensorRT backend logic with fake tensorrt/pycuda modules (no GPU, never a real trt.Runtime)."""
import json
import sys
import threading

import numpy as np
import pytest

from edgepose.errors import DependencyError, EngineError, InputError

from fakes import fake_pycuda_runtime as fcuda
from fakes import fake_trt_runtime as ftrt


@pytest.fixture
def fakes(monkeypatch):
    import edgepose.backends.tensorrt as mod

    fcuda.reset()
    del ftrt.CALLS[:]
    pkg, driver = fcuda.as_package()
    monkeypatch.setitem(sys.modules, "tensorrt", ftrt)
    monkeypatch.setitem(sys.modules, "pycuda", pkg)
    monkeypatch.setitem(sys.modules, "pycuda.driver", driver)
    import edgepose.engine.trt as build_trt

    monkeypatch.setattr(build_trt, "_LOGGER", {})
    checks = []

    def fake_check(path, trt_version, device_name, cc):
        checks.append((path, trt_version, device_name, cc))
        return {"profile": "tf-pose"}

    monkeypatch.setattr(mod, "check_sidecar", fake_check)
    return mod, checks


def write_engine(tmp_path, inputs, outputs, name="m.engine"):
    p = tmp_path / name
    p.write_text(json.dumps({"inputs": inputs, "outputs": outputs}))
    return str(p)


DYN = {"image": {"shape": [-1, 8, 12, 3], "dtype": "float32",
                 "profile": [[1, 8, 12, 3], [2, 8, 12, 3], [4, 8, 12, 3]]}}
OUTS = {"maps": {"shape": [-1, 1, 2, 5], "dtype": "float16"}, "paf": {"shape": [-1, 2, 3, 2], "dtype": "float32"}}


def test_activate_checks_sidecar_then_allocates_for_max_batch(fakes, tmp_path):
    mod, checks = fakes
    path = write_engine(tmp_path, DYN, OUTS)
    be = mod.TensorRTBackend(path)
    be.activate()
    try:
        assert checks == [(path, "10.3.0", "Fake Orin", "8.7")]
        assert be.batch_range == (1, 4)
        assert [i.name for i in be.inputs] == ["image"] and be.inputs[0].shape == (None, 8, 12, 3)
        assert {o.name: o.dtype for o in be.outputs} == {"maps": np.float16, "paf": np.float32}
        # pinned buffers sized for the largest batch
        sizes = sorted(c[1][0] for c in fcuda.CALLS if c[0] == "pagelocked_empty")
        assert sizes == sorted([4 * 8 * 12 * 3, 4 * 1 * 2 * 5, 4 * 2 * 3 * 2])
        allocs = sorted(c[1] for c in fcuda.CALLS if c[0] == "mem_alloc")
        assert allocs == sorted([4 * 8 * 12 * 3 * 4, 4 * 10 * 2, 4 * 12 * 4])
        assert sum(1 for c in ftrt.CALLS if c[0] == "set_tensor_address") == 3
        assert fcuda.current_context() is None        # context popped after activate
    finally:
        be.deactivate()
    assert not fcuda.ALLOCATIONS                     # every device buffer freed
    assert ("detach",) in fcuda.CALLS


def test_infer_values_call_order_and_pinned_buffers(fakes, tmp_path):
    mod, _ = fakes
    be = mod.TensorRTBackend(write_engine(tmp_path, DYN, OUTS))
    with be:
        pinned_before = [id(b.host) for b in be._buffers.values()]
        x = np.random.RandomState(0).rand(2, 8, 12, 3).astype(np.float32)
        del fcuda.CALLS[:]
        del ftrt.CALLS[:]
        out = be.infer({"image": x})
        assert out["maps"].shape == (2, 1, 2, 5) and out["paf"].shape == (2, 2, 3, 2)
        assert out["maps"].dtype == np.float32          # half outputs come back as float32
        means = x.reshape(2, -1).mean(axis=1)
        np.testing.assert_allclose(out["maps"][:, 0, 0, :], means[:, None] * np.arange(1, 6), rtol=2e-3)
        np.testing.assert_allclose(out["paf"][1, 1, 2], means[1] * np.array([1, 2]), rtol=1e-6)
        # order: push, H2D (from pinned memory), execute, D2H (into pinned memory), synchronize, pop
        names = [c[0] for c in fcuda.CALLS]
        assert names[0] == "push" and names[-1] == "pop"
        h2d = [c for c in fcuda.CALLS if c[0] == "memcpy_htod_async"]
        d2h = [c for c in fcuda.CALLS if c[0] == "memcpy_dtoh_async"]
        assert h2d and all(c[3] for c in h2d) and all(c[3] for c in d2h)
        assert h2d[0][2] == x.nbytes                   # only the batch actually given is copied
        assert names.index("synchronize") > max(i for i, n in enumerate(names) if n == "memcpy_dtoh_async")
        assert ("set_input_shape", "image", (2, 8, 12, 3)) in ftrt.CALLS
        # outputs are copies: the next call must not change them
        first = out["maps"].copy()
        be.infer({"image": np.zeros((1, 8, 12, 3), np.float32)})
        np.testing.assert_array_equal(out["maps"], first)
        assert [id(b.host) for b in be._buffers.values()] == pinned_before   # never rebound


def test_layout_conversion_and_dtype_from_engine(fakes, tmp_path):
    mod, _ = fakes
    nchw = {"input": {"shape": [1, 3, 4, 6], "dtype": "float16"}}
    be = mod.TensorRTBackend(write_engine(tmp_path, nchw, {"y": {"shape": [1, 2, 2, 3], "dtype": "float32"}}))
    with be:
        assert be.batch_range == (1, 1)
        x = np.arange(4 * 6 * 3, dtype=np.float32).reshape(1, 4, 6, 3) / 100.0     # NHWC given
        out = be.infer({"input": x})
        np.testing.assert_allclose(out["y"][0, 0, 0], x.mean() * np.array([1, 2, 3]), rtol=2e-3)
        host = be._buffers["input"].host
        assert host.dtype == np.float16
        np.testing.assert_allclose(host.reshape(1, 3, 4, 6), x.transpose(0, 3, 1, 2), rtol=1e-3)


@pytest.mark.parametrize("shape, match", [((5, 8, 12, 3), "outside the engine's profile"),
                                          ((1, 9, 12, 3), "does not fit"), ((8, 12, 3), "dims")])
def test_bad_inputs(fakes, tmp_path, shape, match):
    mod, _ = fakes
    with mod.TensorRTBackend(write_engine(tmp_path, DYN, OUTS)) as be:
        with pytest.raises(InputError, match=match):
            be.infer({"image": np.zeros(shape, np.float32)})
        with pytest.raises(InputError, match="missing"):
            be.infer({"other": np.zeros((1, 8, 12, 3), np.float32)})


def test_sidecar_mismatch_stops_before_deserializing(fakes, tmp_path, monkeypatch):
    mod, _ = fakes

    def refuse(*a):
        raise EngineError("m.engine was built for TensorRT 8.5.2: rebuild it")

    monkeypatch.setattr(mod, "check_sidecar", refuse)
    be = mod.TensorRTBackend(write_engine(tmp_path, DYN, OUTS))
    with pytest.raises(EngineError, match="rebuild"):
        be.activate()
    assert not any(c[0] == "deserialize_cuda_engine" for c in ftrt.CALLS)
    assert fcuda.current_context() is None and ("detach",) in fcuda.CALLS
    assert not be.active


def test_corrupt_engine_is_an_engine_error(fakes, tmp_path):
    mod, _ = fakes
    p = tmp_path / "bad.engine"
    p.write_bytes(b"\x00\x01not json")
    with pytest.raises(EngineError, match="could not deserialize"):
        mod.TensorRTBackend(str(p)).activate()
    assert fcuda.current_context() is None


def test_real_sidecar_check_is_used(fakes, tmp_path, monkeypatch):
    mod, _ = fakes
    monkeypatch.undo()   # drop all patches, then re-inject the fakes but keep the real check_sidecar
    monkeypatch.setitem(sys.modules, "tensorrt", ftrt)
    pkg, driver = fcuda.as_package()
    monkeypatch.setitem(sys.modules, "pycuda", pkg)
    monkeypatch.setitem(sys.modules, "pycuda.driver", driver)
    pytest.importorskip("edgepose.engine.sidecar")
    path = write_engine(tmp_path, DYN, OUTS)
    with pytest.raises(EngineError, match="sidecar"):
        mod.TensorRTBackend(path).activate()


def test_context_is_usable_from_the_inference_thread(fakes, tmp_path):
    """The loop activates and infers on its own thread; the context is pushed/popped around each call."""
    mod, _ = fakes
    be = mod.TensorRTBackend(write_engine(tmp_path, DYN, OUTS))
    result = {}

    def worker():
        with be:
            result["out"] = be.infer({"image": np.ones((1, 8, 12, 3), np.float32)})

    t = threading.Thread(target=worker)
    t.start()
    t.join()
    np.testing.assert_allclose(result["out"]["paf"][0, 0, 0], [1.0, 2.0])


def test_logger_bridge_forwards_once(fakes, caplog):
    mod, _ = fakes
    lg = mod.trt_logger(ftrt)
    assert mod.trt_logger(ftrt) is lg
    with caplog.at_level("WARNING", logger="edgepose.tensorrt"):
        lg.log(ftrt.ILogger.Severity.WARNING, "slow path")
        lg.log(ftrt.ILogger.Severity.WARNING, "slow path")
        lg.log(ftrt.ILogger.Severity.ERROR, "boom")
    msgs = [r.getMessage() for r in caplog.records]
    assert msgs == ["slow path", "boom"]


def test_missing_libraries_give_dependency_errors(monkeypatch, tmp_path):
    import edgepose.backends.tensorrt as mod

    monkeypatch.setitem(sys.modules, "tensorrt", None)
    with pytest.raises(DependencyError, match="JetPack"):
        mod.import_tensorrt()
    monkeypatch.setitem(sys.modules, "pycuda", None)
    monkeypatch.setitem(sys.modules, "pycuda.driver", None)
    with pytest.raises(DependencyError, match="pycuda"):
        mod.import_pycuda()


def test_open_backend_picks_tensorrt_for_engines(fakes, tmp_path):
    from edgepose.backends import open_backend

    be = open_backend(write_engine(tmp_path, DYN, OUTS, name="x.plan"))
    assert be.name == "tensorrt" and not be.active
