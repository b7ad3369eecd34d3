"""On a device: the TensorRT backend (pycuda buffers, dynamic batch, its own thread) against ONNX Runtime,
and the whole loop on an engine. Skipped without a GPU (tests/conftest.py; EDGEPOSE_GPU_TESTS=1)."""
import os
import threading

import numpy as np
import pytest

pytestmark = pytest.mark.gpu

SIZE = (64, 96)


@pytest.fixture(scope="module")
def engine(tmp_path_factory):
    from tiny_bpnet import make_tiny_bpnet

    from edgepose.engine.builder import BuildOptions, build_engine

    d = tmp_path_factory.mktemp("trt")
    onnx_path = make_tiny_bpnet(d / "tiny.onnx", batch="N", size=SIZE)
    opts = BuildOptions(precision="fp32", batch="dynamic:1,2,4", out_dir=str(d / "engines"), workspace_mib=256)
    path, _ = build_engine(onnx_path, "tao-bpnet", opts)
    return {"onnx": onnx_path, "engine": path}


def _batch(n, seed=0):
    from edgepose.preprocess import preprocess
    from edgepose.profiles import load_profile

    prof = load_profile("tao-bpnet").with_size(SIZE)
    rng = np.random.default_rng(seed)
    x = np.concatenate([preprocess(rng.integers(0, 256, (120, 160, 3), dtype=np.uint8), prof)[0] for _ in range(n)])
    return x, prof


def _close(a, b, name, rel=1e-3):
    scale = max(1e-6, float(np.abs(a).max()))
    diff = float(np.abs(a.astype(np.float64) - b.astype(np.float64)).max())
    assert diff <= rel * scale, (name, diff, scale)


def _staging(be):
    return {n: b.host_flat.ctypes.data for lane in be._lanes for n, b in lane.bufs.buffers.items()
            if b.host_flat is not None}


def test_dynamic_batch_matches_onnxruntime(engine):
    from edgepose.backends import open_backend

    ref = open_backend(engine["onnx"])
    be = open_backend(engine["engine"])
    with be:
        assert be.name == "tensorrt" and be.batch_range == (1, 4)
        pinned = _staging(be)
        for n in (1, 3, 4, 2):
            x, prof = _batch(n, seed=n)
            a = ref.infer({prof.input.name: x})
            b = be.infer({prof.input.name: x})
            for name in a:
                assert b[name].shape == a[name].shape
                _close(a[name], b[name], name)
        assert _staging(be) == pinned                 # the pinned staging is never rebound
        with pytest.raises(Exception, match="outside the engine's profile"):
            be.infer({prof.input.name: np.zeros((5,) + x.shape[1:], np.float32)})


def test_backend_lives_on_its_own_thread(engine):
    from edgepose.backends import open_backend

    x, prof = _batch(1)
    ref = open_backend(engine["onnx"]).infer({prof.input.name: x})
    out = {}

    def worker():
        with open_backend(engine["engine"]) as be:
            for _ in range(20):
                out["r"] = be.infer({prof.input.name: x})

    t = threading.Thread(target=worker)
    t.start()
    t.join()
    for name in ref:
        _close(ref[name], out["r"][name], name)


def test_pipeline_on_an_engine_equals_onnxruntime(engine):
    import edgepose.decode  # noqa: F401
    from edgepose.pipeline import Pipeline
    from edgepose.sources import ArraySource

    rng = np.random.default_rng(3)
    imgs = [rng.integers(0, 256, (120, 160, 3), dtype=np.uint8) for _ in range(12)]
    runs = {}
    for kind, kw in (("ort", {"model": engine["onnx"]}), ("trt", {"engine": engine["engine"]})):
        pipe = Pipeline(ArraySource(imgs), profile="tao-bpnet", size=SIZE, **kw)
        runs[kind] = [len(r.people) for r in pipe]
        pipe.close()
        print(kind, pipe.stats.log_line())
    assert runs["ort"] == runs["trt"] and len(runs["trt"]) == 12


def test_two_lanes_and_lent_input_match_onnxruntime(engine):
    """Two execution contexts on two threads at once, inputs preprocessed into the lent pinned array."""
    from edgepose.backends import open_backend

    x, prof = _batch(1)
    ref = open_backend(engine["onnx"]).infer({prof.input.name: x})
    errors = []
    with open_backend(engine["engine"], lanes=2) as be:
        def worker():
            try:
                for _ in range(30):
                    a = be.input_array(1)
                    a[...] = x
                    out = be.infer({prof.input.name: a})
                    for name in ref:
                        _close(ref[name], out[name], name)
            except Exception as e:
                errors.append(e)

        threads = [threading.Thread(target=worker) for _ in range(2)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
    assert not errors, errors[0]


def test_sidecar_mismatch_is_refused(engine, tmp_path):
    import json
    import shutil

    from edgepose.backends import open_backend
    from edgepose.errors import EngineError

    path = str(tmp_path / "copy.engine")
    shutil.copy(engine["engine"], path)
    with open(engine["engine"] + ".json") as f:
        side = json.load(f)
    side["tensorrt_version"] = "1.0.0"
    with open(path + ".json", "w") as f:
        json.dump(side, f)
    with pytest.raises(EngineError, match="rebuild"):
        open_backend(path).activate()
    assert os.path.isfile(path)
