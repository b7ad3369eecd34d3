"""TensorRT backend logic with fake tensorrt/pycuda modules (no GPU, never a real trt.Runtime)."""
import json
import sys
import threading
import time

import numpy as np
import pytest

from edgepose.errors import DependencyError, EngineError, InputError

from fakes import fake_cuda_python, fake_pycuda, fake_tensorrt


@pytest.fixture
def fakes(monkeypatch):
    import edgepose.backends.tensorrt as mod

    fake_pycuda.install(monkeypatch)                    # pycuda first (load_cuda's order), on a fresh fake GPU
    fake_cuda_python.reset_caches(monkeypatch)
    ftrt = fake_tensorrt.install(monkeypatch, "10.3.0")
    checks = []

    def fake_check(path, trt_version, device_name, cc):
        checks.append((path, trt_version, device_name, cc))
        return {"profile": "tf-pose"}

    monkeypatch.setattr(mod, "check_sidecar", fake_check)
    return mod, checks, ftrt


def write_engine(tmp_path, inputs, outputs, name="m.engine"):
    p = tmp_path / name
    p.write_text(json.dumps({"inputs": inputs, "outputs": outputs}))
    return str(p)


DYN = {"image": {"shape": [-1, 8, 12, 3], "dtype": "float32",
                 "profile": [[1, 8, 12, 3], [2, 8, 12, 3], [4, 8, 12, 3]]}}
OUTS = {"maps": {"shape": [-1, 1, 2, 5], "dtype": "float16"}, "paf": {"shape": [-1, 2, 3, 2], "dtype": "float32"}}
GPU = fake_cuda_python


def _device_sizes():
    return sorted(len(b) for b in GPU.STATE.device_mem.values())


def test_activate_checks_sidecar_then_allocates_for_max_batch(fakes, tmp_path):
    mod, checks, ftrt = fakes
    path = write_engine(tmp_path, DYN, OUTS)
    be = mod.TensorRTBackend(path)
    be.activate()
    try:
        assert checks == [(path, "10.3.0", "Orin", "8.7")]
        assert be.batch_range == (1, 4) and be.fixed_batch is None
        assert [i.name for i in be.inputs] == ["image"] and be.inputs[0].shape == (None, 8, 12, 3)
        assert {o.name: o.dtype for o in be.outputs} == {"maps": np.float16, "paf": np.float32}
        # device and pinned buffers sized for the largest batch
        assert _device_sizes() == sorted([4 * 8 * 12 * 3 * 4, 4 * 10 * 2, 4 * 12 * 4])
        assert len(GPU.STATE.host_mem) == 1                 # the input's pinned staging (results are lent later)
        assert sum(1 for c in ftrt.calls if c[0] == "set_tensor_address") == 3
        assert GPU.STATE.stack() == []                   # context popped after activate
    finally:
        be.deactivate()
    assert not GPU.STATE.device_mem and not GPU.STATE.host_mem and not GPU.STATE.streams   # all freed
    assert GPU.STATE.retains == 1                        # the primary context, retained once, no context made


def _hosts(be):
    return {n: b.host_flat.ctypes.data for lane in be._lanes for n, b in lane.bufs.buffers.items()
            if b.host_flat is not None}


def test_infer_values_copies_and_pinned_buffers(fakes, tmp_path):
    mod, _, ftrt = fakes
    be = mod.TensorRTBackend(write_engine(tmp_path, DYN, OUTS))
    with be:
        pinned_before = _hosts(be)
        assert list(pinned_before) == ["image"]            # outputs go to lent result buffers, not a staging copy
        x = np.random.RandomState(0).rand(2, 8, 12, 3).astype(np.float32)
        del GPU.STATE.calls[:]
        out = be.infer({"image": x})
        assert out["maps"].shape == (2, 1, 2, 5) and out["paf"].shape == (2, 2, 3, 2)
        assert out["maps"].dtype == np.float32          # half outputs come back as float32
        means = x.reshape(2, -1).mean(axis=1)
        np.testing.assert_allclose(out["maps"][:, 0, 0, :], means[:, None] * np.arange(1, 6), rtol=2e-3)
        np.testing.assert_allclose(out["paf"][1, 1, 2], means[1] * np.array([1, 2]), rtol=1e-6)
        h2d = [c for c in GPU.STATE.calls if c[0] == "htod"]
        d2h = [c for c in GPU.STATE.calls if c[0] == "dtoh"]
        assert [c[2] for c in h2d] == [x.nbytes]          # only the batch actually given is copied
        assert sorted(c[2] for c in d2h) == sorted([2 * 10 * 2, 2 * 12 * 4])
        assert ("set_input_shape", "image", (2, 8, 12, 3)) in ftrt.calls
        first = out["maps"].copy()
        be.infer({"image": np.zeros((1, 8, 12, 3), np.float32)})
        np.testing.assert_array_equal(out["maps"], first)   # outputs of infer() are the caller's
        assert _hosts(be) == pinned_before                  # never rebound
        assert GPU.STATE.stack() == []


def test_input_written_in_place_is_uploaded_without_a_copy(fakes, tmp_path):
    mod, _, ftrt = fakes
    with mod.TensorRTBackend(write_engine(tmp_path, DYN, OUTS)) as be:
        buf = be.input_array(3)
        assert buf.shape == (3, 8, 12, 3) and buf.dtype == np.float32
        buf[...] = 2.0
        del GPU.STATE.calls[:]
        out = be.infer({"image": buf})
        np.testing.assert_allclose(out["paf"][2, 0, 0], [2.0, 4.0])
        h2d = [c for c in GPU.STATE.calls if c[0] == "htod"]
        assert len(h2d) == 1 and h2d[0][3] == buf.ctypes.data      # straight from the lent pinned array
        with pytest.raises(InputError, match="outside"):
            be.input_array(5)
        assert be.d2h_bytes(1) == 10 * 2 + 12 * 4


def test_results_are_lent_and_come_back_when_dropped(fakes, tmp_path, caplog):
    """No pinned allocation per frame: result buffers return to the pool when the caller drops them."""
    mod, _, _ = fakes
    with mod.TensorRTBackend(write_engine(tmp_path, DYN, OUTS), results=2) as be:
        x = np.ones((1, 8, 12, 3), np.float32)
        be.infer({"image": be.input_array(1)})
        allocated = len(GPU.STATE.host_mem)
        for _ in range(20):
            out = be.infer({"image": be.input_array(1)})
            del out
        assert len(GPU.STATE.host_mem) == allocated and be._out_pool.in_use == 0
        held = [be.infer({"image": x}) for _ in range(3)]     # 2 results + 1 lane: the 4th is ordinary memory
        with caplog.at_level("WARNING"):
            held.append(be.infer({"image": x}))
        assert "ordinary memory" in caplog.text
        np.testing.assert_allclose(held[-1]["paf"][0, 0, 0], [1.0, 2.0])
    # deactivated while results are held: they stay valid and are freed when dropped
    np.testing.assert_allclose(held[0]["paf"][0, 0, 0], [1.0, 2.0])
    assert GPU.STATE.host_mem and not GPU.STATE.device_mem
    del held
    assert not GPU.STATE.host_mem


def test_two_lanes_run_at_once_on_their_own_contexts(fakes, tmp_path, monkeypatch):
    mod, _, ftrt = fakes
    monkeypatch.setattr(ftrt, "EXECUTE_SECONDS", [0.02])
    with mod.TensorRTBackend(write_engine(tmp_path, DYN, OUTS), lanes=2) as be:
        assert sum(1 for c in ftrt.calls if c[0] == "create_execution_context") == 2
        assert len({lane.bufs.stream_handle for lane in be._lanes}) == 2
        spans = _at_once(be, "paf", (1.0, 5.0))
    assert spans[1.0][2] == 1.0 and spans[5.0][2] == 5.0
    assert spans[1.0][0] < spans[5.0][1] and spans[5.0][0] < spans[1.0][1]   # the two calls overlapped in time


def _at_once(backend, out_name, values):
    """Each value's frame inferred on its own thread, all released together: ``{v: (t0, t1, out[0, 0, 0, 0])}``."""
    spans, errors = {}, []
    start = threading.Barrier(len(values))

    def user(v):
        try:
            start.wait()
            t0 = time.monotonic()
            out = backend.infer({"image": np.full((1, 8, 12, 3), v, np.float32)})
            spans[v] = (t0, time.monotonic(), float(out[out_name][0, 0, 0, 0]))
        except Exception as e:
            errors.append(e)

    threads = [threading.Thread(target=user, args=(v,)) for v in values]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors, errors[0]
    return spans


def test_fixed_batch_engine_pads_fewer_frames(fakes, tmp_path):
    mod, _, ftrt = fakes
    fixed = {"image": {"shape": [4, 8, 12, 3], "dtype": "float32"}}
    outs = {"y": {"shape": [4, 1, 1, 2], "dtype": "float32"}}
    with mod.TensorRTBackend(write_engine(tmp_path, fixed, outs)) as be:
        assert be.batch_range == (4, 4) and be.fixed_batch == 4
        out = be.infer({"image": np.ones((1, 8, 12, 3), np.float32)})
        assert out["y"].shape == (1, 1, 1, 2)
        np.testing.assert_allclose(out["y"][0, 0, 0], [1.0, 2.0])
        out = be.infer({"image": np.full((3, 8, 12, 3), 3.0, np.float32)})
        assert out["y"].shape == (3, 1, 1, 2)
        with pytest.raises(InputError, match="outside"):
            be.infer({"image": np.ones((5, 8, 12, 3), np.float32)})


def test_two_users_of_one_backend_do_not_race(fakes, tmp_path, monkeypatch):
    """One execution context: callers queue for it (the fake context raises when entered twice at once, as the
    real one would mix the data)."""
    mod, _, ftrt = fakes
    monkeypatch.setattr(ftrt, "EXECUTE_SECONDS", [0.002])
    errors, results = [], {}
    with mod.TensorRTBackend(write_engine(tmp_path, DYN, OUTS)) as be:
        def user(v):
            try:
                for _ in range(15):
                    out = be.infer({"image": np.full((1, 8, 12, 3), v, np.float32)})
                    results.setdefault(v, set()).add(float(out["paf"][0, 0, 0, 0]))
            except Exception as e:
                errors.append(e)

        threads = [threading.Thread(target=user, args=(v,)) for v in (1.0, 5.0)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
    assert not errors and results == {1.0: {1.0}, 5.0: {5.0}}


def test_activate_on_one_thread_deactivate_on_another_leaks_nothing(fakes, tmp_path):
    mod, _, ftrt = fakes
    path = write_engine(tmp_path, DYN, OUTS)
    for _ in range(5):
        be = mod.TensorRTBackend(path)
        t = threading.Thread(target=be.activate)
        t.start()
        t.join()
        assert be.active and GPU.STATE.device_mem
        t = threading.Thread(target=be.deactivate)
        t.start()
        t.join()
        assert not GPU.STATE.device_mem and not GPU.STATE.host_mem
    assert fake_pycuda.leaked_contexts() == 0 and GPU.STATE.retains == 1


def test_cuda_python_buffers_when_pycuda_is_missing(fakes, tmp_path, monkeypatch):
    mod, _, ftrt = fakes
    monkeypatch.setitem(sys.modules, "pycuda", None)
    monkeypatch.setitem(sys.modules, "pycuda.driver", None)
    fake_cuda_python.install(monkeypatch)
    with mod.TensorRTBackend(write_engine(tmp_path, DYN, OUTS)) as be:
        assert be.gpu.lib.name == "cuda-python"
        out = be.infer({"image": np.ones((2, 8, 12, 3), np.float32)})
        np.testing.assert_allclose(out["paf"][1, 0, 0], [1.0, 2.0])
    assert not GPU.STATE.device_mem


def test_dtypes_are_mapped_without_trt_nptype(fakes, tmp_path, monkeypatch):
    """TensorRT 8.5.2's nptype raises under numpy >= 1.24 (np.bool): the backend maps dtypes itself."""
    mod, _, ftrt = fakes
    monkeypatch.setattr(ftrt, "__version__", "8.5.2")
    if tuple(int(v) for v in np.__version__.split(".")[:2]) >= (1, 24):
        with pytest.raises(AttributeError, match="bool"):
            ftrt.nptype(ftrt.DataType.FLOAT)
    with mod.TensorRTBackend(write_engine(tmp_path, DYN, OUTS)) as be:
        assert {o.name: o.dtype for o in be.outputs} == {"maps": np.float16, "paf": np.float32}
    assert mod.numpy_dtype(ftrt.DataType.INT8) == np.int8
    with pytest.raises(EngineError, match="BF16"):
        mod.numpy_dtype(type("D", (), {"name": "BF16"})())


def test_layout_conversion_and_dtype_from_engine(fakes, tmp_path):
    mod, _, ftrt = fakes
    nchw = {"input": {"shape": [1, 3, 4, 6], "dtype": "float16"}}
    be = mod.TensorRTBackend(write_engine(tmp_path, nchw, {"y": {"shape": [1, 2, 2, 3], "dtype": "float32"}}))
    with be:
        assert be.batch_range == (1, 1)
        x = np.arange(4 * 6 * 3, dtype=np.float32).reshape(1, 4, 6, 3) / 100.0     # NHWC given
        out = be.infer({"input": x})
        np.testing.assert_allclose(out["y"][0, 0, 0], x.mean() * np.array([1, 2, 3]), rtol=2e-3)
        host = be._lanes[0].bufs["input"].host_flat
        assert host.dtype == np.float16
        np.testing.assert_allclose(host.reshape(1, 3, 4, 6), x.transpose(0, 3, 1, 2), rtol=1e-3)


@pytest.mark.parametrize("shape, match", [((5, 8, 12, 3), "outside the engine's profile"),
                                          ((1, 9, 12, 3), "does not fit"), ((8, 12, 3), "dims")])
def test_bad_inputs(fakes, tmp_path, shape, match):
    mod, _, ftrt = fakes
    with mod.TensorRTBackend(write_engine(tmp_path, DYN, OUTS)) as be:
        with pytest.raises(InputError, match=match):
            be.infer({"image": np.zeros(shape, np.float32)})
        with pytest.raises(InputError, match="missing"):
            be.infer({"other": np.zeros((1, 8, 12, 3), np.float32)})


def test_sidecar_mismatch_stops_before_deserializing(fakes, tmp_path, monkeypatch):
    mod, _, ftrt = fakes

    def refuse(*a):
        raise EngineError("m.engine was built for TensorRT 8.5.2: rebuild it")

    monkeypatch.setattr(mod, "check_sidecar", refuse)
    be = mod.TensorRTBackend(write_engine(tmp_path, DYN, OUTS))
    with pytest.raises(EngineError, match="rebuild"):
        be.activate()
    assert not any(c[0] == "deserialize_cuda_engine" for c in ftrt.calls)
    assert GPU.STATE.stack() == [] and not GPU.STATE.device_mem
    assert not be.active


def test_corrupt_engine_is_an_engine_error(fakes, tmp_path):
    mod, _, ftrt = fakes
    p = tmp_path / "bad.engine"
    p.write_bytes(b"\x00\x01not json")
    with pytest.raises(EngineError, match="could not deserialize"):
        mod.TensorRTBackend(str(p)).activate()
    assert GPU.STATE.stack() == []


def test_real_sidecar_check_is_used(fakes, tmp_path, monkeypatch):
    mod, _, ftrt = fakes
    monkeypatch.undo()   # drop all patches, then re-inject the fakes but keep the real check_sidecar
    monkeypatch.setitem(sys.modules, "tensorrt", ftrt)
    fake_pycuda.install(monkeypatch)
    fake_cuda_python.reset_caches(monkeypatch)
    import edgepose.engine.sidecar  # noqa: F401  (our own module: a broken import must fail)
    path = write_engine(tmp_path, DYN, OUTS)
    with pytest.raises(EngineError, match="sidecar"):
        mod.TensorRTBackend(path).activate()


def test_context_is_usable_from_the_inference_thread(fakes, tmp_path):
    """The loop activates and infers on its own thread; the context is pushed/popped around each call."""
    mod, _, ftrt = fakes
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
    mod, _, ftrt = fakes
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
    fake_cuda_python.block(monkeypatch)
    from edgepose.backends.cudalib import load_cuda

    with pytest.raises(DependencyError, match="pycuda.*cuda-python"):
        load_cuda()


def test_open_backend_picks_tensorrt_for_engines(fakes, tmp_path):
    from edgepose.backends import open_backend

    be = open_backend(write_engine(tmp_path, DYN, OUTS, name="x.plan"))
    assert be.name == "tensorrt" and not be.active


def test_shared_backend_serves_two_sources_on_two_lanes(fakes, tmp_path, monkeypatch):
    """The daemon's SharedBackend runs one thread per lane: two sources' calls overlap."""
    from edgepose.service.backend import SharedBackend

    mod, _, ftrt = fakes
    monkeypatch.setattr(ftrt, "EXECUTE_SECONDS", [0.05])
    fixed = {"image": {"shape": [1, 8, 12, 3], "dtype": "float32"}}
    inner = mod.TensorRTBackend(write_engine(tmp_path, fixed, {"y": {"shape": [1, 1, 1, 2], "dtype": "float32"}}),
                                lanes=2)
    shared = SharedBackend(inner, "image").activate()
    try:
        arr = shared.input_array(1)
        assert arr is not None and arr.shape == (1, 8, 12, 3)
        spans = _at_once(shared, "y", (1.0, 3.0))
        assert spans[1.0][2] == 1.0 and spans[3.0][2] == 3.0
        assert spans[1.0][0] < spans[3.0][1] and spans[3.0][0] < spans[1.0][1]   # overlapped
        assert shared.calls == 2 and shared.frames == 2
    finally:
        shared.close()
    assert not GPU.STATE.device_mem


def test_pipeline_preprocesses_into_the_engines_pinned_input(fakes, tmp_path, monkeypatch):
    """Pipeline -> preprocess writes into the array the TensorRT backend lends; infer uploads it as it is."""
    pytest.importorskip("cv2")
    pytest.importorskip("onnxruntime")
    from tiny_bpnet import make_tiny_bpnet

    from edgepose.pipeline import Pipeline
    from edgepose.sources import ArraySource

    mod, _, _ = fakes
    onnx_path = make_tiny_bpnet(tmp_path / "tiny.onnx", size=(64, 96))
    spec = {"inputs": {"input_1:0": {"shape": [1, 64, 96, 3], "dtype": "float32"}},
            "outputs": {"heatmap_out/BiasAdd:0": {"shape": [1, 8, 12, 19]},
                        "conv2d_transpose_1/BiasAdd:0": {"shape": [1, 32, 48, 38]}},
            "onnx": str(onnx_path)}
    be = mod.TensorRTBackend(write_engine(tmp_path, spec["inputs"], spec["outputs"]))
    with open(be.engine_path, "w") as f:
        json.dump(spec, f)
    from edgepose.backends import gpubuffers

    found = []
    original = gpubuffers.HostPool.full_array

    def spy(self, array, name):
        full = original(self, array, name)
        found.append(full is not None)
        return full

    monkeypatch.setattr(gpubuffers.HostPool, "full_array", spy)
    frames = [np.full((120, 160, 3), 40 * i, np.uint8) for i in range(6)]
    be.activate()          # up before the first frame is preprocessed (the loop lends nothing before that)
    pipe = Pipeline(ArraySource(frames), backend=be, profile="tao-bpnet", size=(64, 96))
    results = list(pipe)
    pipe.close()
    assert [r.frame.index for r in results] == list(range(6))
    # every frame was written into a lent pinned array and uploaded from it (no copy)
    assert found == [True] * 6
    assert not GPU.STATE.device_mem
