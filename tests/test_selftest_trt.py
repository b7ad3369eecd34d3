"""The TensorRT half of the device self-test: its reference data, its import closure (JetPack packages only),
and every item end to end on the fake TensorRT/CUDA (the fake engine runs the ONNX on ONNX Runtime).

What only a device can show (TensorRT's own numbers, TF32, DLA, latency) runs with `python3 tools/device_check.py`."""
import argparse
import io
import os
import subprocess
import sys
import textwrap

import numpy as np
import pytest

from edgepose.selftest import golden

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def test_uint8_model_is_the_bundled_model_prepared_for_uint8_frames():
    """The committed uint8-input model gives, for raw BGR frames, the goldens' maps (ONNX Runtime)."""
    ort = pytest.importorskip("onnxruntime")
    from edgepose.profiles.match import input_dtypes
    import onnx

    data = golden.load()
    assert input_dtypes(onnx.load(golden.U8)) == {"input_1:0": "uint8"}
    view = golden.ProfileView.from_json(data["profile_json"]).uint8_variant()
    x = golden.network_input(data["images"], view)
    assert x.dtype == np.uint8 and np.array_equal(x[..., ::-1], data["images"])
    heat, paf = ort.InferenceSession(golden.U8, providers=["CPUExecutionProvider"]).run(
        [view.outputs.heatmap.name, view.outputs.paf.name], {view.input.name: x})
    assert np.max(np.abs(heat - data["heatmap"])) < 1e-4 and np.max(np.abs(paf - data["paf8"])) < 1e-4


def test_golden_data_belongs_to_the_bundled_model():
    """Fails when the bundled model is replaced without `python tools/make_device_golden.py`."""
    assert golden.stale_reason() is None
    data = golden.load()
    assert data["model_sha256"] == golden.sha256_file(golden.bundled_model_path())
    assert data["images"].dtype == np.uint8 and data["images"].shape[1:] == (240, 320, 3)
    assert data["heatmap"].shape[1:] == (30, 40, 19) and data["paf8"].shape[1:] == (30, 40, 38)
    assert (data["people"] >= 1).all() and len(data["calib"]) >= 2
    assert os.path.getsize(golden.GOLDEN) < 600e3


def test_stale_goldens_name_the_command(tmp_path):
    other = tmp_path / "other.onnx"
    other.write_bytes(b"another model")
    why = golden.stale_reason(model=str(other))
    assert "python tools/make_device_golden.py" in why and "sha256" in why


def test_a_changed_uint8_model_is_stale(tmp_path):
    other = tmp_path / "edgepose-demo.u8.onnx"
    other.write_bytes(b"another uint8 model")
    assert "edgepose-demo.u8.onnx does not belong to" in golden.stale_reason(u8=str(other))
    assert "is missing" in golden.stale_reason(u8=str(tmp_path / "gone.onnx"))


def test_decode_path_needs_only_numpy():
    """The self-test's modules import, and the goldens decode to their people, with pydantic, PyYAML, onnx,
    onnx-graphsurgeon, ONNX Runtime and OpenCV all unimportable (a Jetson's system Python)."""
    code = textwrap.dedent('''
        import sys
        BLOCKED = ("pydantic", "yaml", "onnx", "onnx_graphsurgeon", "onnxruntime", "cv2")
        class Block:
            def find_spec(self, name, path=None, target=None):
                if name.split(".")[0] in BLOCKED:
                    raise ImportError("blocked: " + name)
        sys.meta_path.insert(0, Block())
        import numpy as np
        import edgepose.selftest.trt_checks, edgepose.engine.builder, edgepose.backends.tensorrt
        import edgepose.engine.calibrator
        from edgepose.selftest import golden
        assert golden.stale_reason() is None
        data = golden.load()
        view = golden.ProfileView.from_json(data["profile_json"]).with_paf_stride(8)
        dec = golden.decoder(view)
        counts = [len(dec.decode({view.outputs.heatmap.name: data["heatmap"][i:i + 1],
                                  view.outputs.paf.name: data["paf8"][i:i + 1]})) for i in range(len(data["people"]))]
        print(counts, data["people"].tolist())
        assert counts == data["people"].tolist()
        assert not [m for m in sys.modules if m.split(".")[0] in BLOCKED]
    ''')
    r = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, r.stdout + r.stderr


@pytest.fixture
def fake_device(monkeypatch):
    pytest.importorskip("onnxruntime")
    from fakes import fake_cuda_python, fake_tensorrt

    import edgepose.engine.trt as seam

    fake_cuda_python.install(monkeypatch)
    fake_cuda_python.reset_caches(monkeypatch)
    monkeypatch.setitem(sys.modules, "pycuda", None)
    monkeypatch.setitem(sys.modules, "pycuda.driver", None)
    trt = fake_tensorrt.install(monkeypatch, "10.3.0", run_onnx=True, dla_cores=1)
    monkeypatch.setattr(seam, "has_cuda_device", lambda: True)
    return trt


def _run_selftest(only=None):
    from edgepose import selftest
    from edgepose.selftest import trt_checks

    out = io.StringIO()
    report = selftest.Report(out)
    trt_checks.run_all(report, ["cuda-python"], 0, only=only)
    return report, out.getvalue()


def test_every_engine_item_on_the_fake_device(fake_device, monkeypatch):
    from edgepose.selftest import trt_checks

    monkeypatch.setattr(trt_checks, "REPS", 3)          # the fake's "GPU" is ONNX Runtime on the CPU
    monkeypatch.setattr(trt_checks, "LOAD_RUNS", 3)
    report, text = _run_selftest()
    status = {item: st for st, _, item, _ in report.items}
    assert status["golden"] == "PASS", text
    for item in ("engine.fp32", "engine.fp16", "engine.int8-calib", "engine.int8-qdq", "engine.uint8",
                 "engine.uint8-int8-calib", "batch.dynamic", "context.cross-thread", "backends.two", "batch.fixed",
                 "dla", "latency.p50"):
        assert status.get(item) == "PASS", text
    assert "input uint8, 230 KB host->device per frame" in text        # 240x320x3 bytes, not 4x that
    calls = fake_device.calls
    batches = [c[1] for c in calls if isinstance(c, tuple) and c[0] == "batch data"]
    assert {b.dtype.name for b in batches} == {"float32", "uint8"}     # each calibration fed what its engine takes
    assert ("clear_flag", fake_device.BuilderFlag.TF32) in calls                  # fp32: TF32 off
    assert any(c[0] == "get_batch" and c[1] is not None for c in calls if isinstance(c, tuple))   # calibrated
    assert "p50 of H2D + execute + D2H" in text


def test_builds_without_the_onnx_package(fake_device, monkeypatch):
    """On a bare Jetson the build reads the model through TensorRT's parser (inputs, Q/DQ -> int8)."""
    from edgepose.engine.builder import model_facts

    monkeypatch.setitem(sys.modules, "onnx", None)
    shapes, kind, dtypes = model_facts(golden.bundled_model_path())
    assert kind == "fp32" and shapes == {"input_1:0": ("?", 240, 320, 3)} and dtypes == {"input_1:0": "float32"}
    assert model_facts(golden.QDQ)[1] == "int8"
    report, text = _run_selftest(only=("engine.int8-qdq",))
    assert {item: st for st, _, item, _ in report.items}["engine.int8-qdq"] == "PASS", text


def test_a_wrong_engine_fails_its_items(fake_device, monkeypatch):
    """Numbers off by a little (as TF32 would make them) fail fp32; off by much, every engine."""
    from fakes import fake_tensorrt

    real = fake_tensorrt._device_write

    def skewed(address, array):
        real(address, array * np.float32(1.01) if array.dtype == np.float32 else array)

    monkeypatch.setattr(fake_tensorrt, "_device_write", skewed)
    report, text = _run_selftest(only=("engine.fp32",))
    status = {item: st for st, _, item, _ in report.items}
    assert status["engine.fp32"] == "FAIL" and "map limit" in text


def test_without_tensorrt_the_items_skip(monkeypatch):
    monkeypatch.setitem(sys.modules, "tensorrt", None)
    report, text = _run_selftest()
    assert [i[0] for i in report.items] == ["SKIP"] and "not installed" in text


def test_device_check_runs_both_halves(fake_device, capsys, monkeypatch):
    from edgepose import selftest
    from edgepose.selftest import trt_checks

    seen = []
    monkeypatch.setattr(trt_checks, "run_all", lambda report, libs, index: seen.append((libs, index)))
    args = argparse.Namespace(cuda_only=False, library=["cuda-python"], device=0)
    rc = selftest.run(args)
    out = capsys.readouterr().out
    assert seen == [(["cuda-python"], 0)] and "buffers.roundtrip" in out and rc == 0


def test_golden_profile_is_the_current_profile():
    """The profile stored with the goldens (decoded on a device without pydantic) is today's edgepose-demo
    profile: a new decode parameter or threshold must regenerate them (`python tools/make_device_golden.py`)."""
    import json

    from edgepose.profiles import load_profile
    from edgepose.selftest import golden

    stored = json.loads(str(golden.load()["profile_json"]))
    assert stored == json.loads(json.dumps(load_profile("edgepose-demo").model_dump())), \
        "regenerate: python tools/make_device_golden.py"
