"""Logic tests of the engine build against FAKE tensorrt/pycuda modules (tests/fakes)."""
import json
import os

import pytest

from edgepose.engine.builder import BuildOptions, build_engine, engine_file_name, onnx_precision, plan_precision
from edgepose.engine.sidecar import check_sidecar, read_sidecar
from edgepose.engine.trt import Capabilities
from edgepose.errors import EngineError, UsageError
from edgepose.onnxprep import BatchRange, prepare
from fakes import fake_cuda_python, fake_pycuda, fake_tensorrt
from tiny_bpnet import make_images, make_tiny_bpnet

SIZE = (64, 96)


@pytest.fixture(scope="module")
def models(tmp_path_factory):
    d = tmp_path_factory.mktemp("models")
    raw = make_tiny_bpnet(d / "tiny.onnx", size=SIZE)
    fixed = str(d / "tiny.b1.onnx")
    prepare(raw, fixed, "tao-bpnet", size=SIZE, batch="1")
    dyn = str(d / "tiny.dyn.onnx")
    prepare(raw, dyn, "tao-bpnet", size=SIZE, batch="dynamic:1,2,4")
    fp16 = str(d / "tiny.fp16.onnx")
    prepare(raw, fp16, "tao-bpnet", size=SIZE, batch="1", fp16=True, check=False)
    images = str(d / "calib")
    make_images(images, count=7)
    return {"fixed": fixed, "dyn": dyn, "fp16": fp16, "images": images}


@pytest.fixture
def fakes(monkeypatch):
    from edgepose.backends import cudalib, gpubuffers

    def install(version="10.3.0", **kw):
        trt = fake_tensorrt.install(monkeypatch, version, **kw)
        drv = fake_pycuda.install(monkeypatch)          # pycuda first, as load_cuda() picks it
        monkeypatch.setattr(cudalib, "_LOADED", {})
        monkeypatch.setattr(gpubuffers.GpuDevice, "_devices", {})
        return trt, drv

    return install


def _names(calls):
    return [c[0] if isinstance(c, tuple) else c for c in calls]


def test_fp16_build_drives_api_in_order_and_writes_sidecar(fakes, models, tmp_path):
    trt, drv = fakes("10.3.0")
    opts = BuildOptions(precision="fp16", workspace_mib=256, out_dir=str(tmp_path), argv=["m.onnx", "--profile", "tao-bpnet"])
    path, side = build_engine(models["fixed"], "tao-bpnet", opts)
    names = _names(trt.calls)
    order = ["Builder", "create_network", "OnnxParser", "parse_from_file", "create_builder_config",
             "set_memory_pool_limit", "set_flag", "build_serialized_network"]
    assert [n for n in names if n in order] == order
    assert ("create_network", 0) in trt.calls  # 10.x: no EXPLICIT_BATCH
    assert ("set_memory_pool_limit", trt.MemoryPoolType.WORKSPACE, 256 << 20) in trt.calls
    assert ("set_flag", trt.BuilderFlag.FP16) in trt.calls
    assert "create_optimization_profile" not in names  # fixed batch
    assert fake_cuda_python.STATE.stack() == [] and side["cuda_library"] == "pycuda"   # context popped again
    built = [c for c in trt.calls if isinstance(c, tuple) and c[0] == "built"][0][1]
    assert trt.BuilderFlag.TF32 in built["flags"]                                      # fp16: TF32 left alone
    assert os.path.basename(path) == "tiny.b1.fp16.b1.64x96.orin.trt10.3.0.engine"
    engine = json.loads(open(path, "rb").read())          # the fake engine: what was built, runnable by the fake runtime
    assert engine["built"]["flags"] == sorted([int(trt.BuilderFlag.FP16), int(trt.BuilderFlag.TF32)])
    assert engine["inputs"]["input_1:0"]["shape"] == [1, 64, 96, 3]
    on_disk = read_sidecar(path)
    assert on_disk["precision"] == "fp16" and on_disk["tensorrt_version"] == "10.3.0"
    assert on_disk["device"]["compute_capability"] == "8.7"
    assert on_disk["batch"] == {"min": 1, "opt": 1, "max": 1} and on_disk["size"] == list(SIZE)
    assert [t["name"] for t in on_disk["inputs"]] == ["input_1:0"]
    assert on_disk["inputs"][0]["shape"] == [1, 64, 96, 3]
    assert {t["name"] for t in on_disk["outputs"]} == {"heatmap_out/BiasAdd:0", "conv2d_transpose_1/BiasAdd:0"}
    assert len(on_disk["source_onnx_sha256"]) == 64 and on_disk["build_command"].startswith("edgepose build m.onnx")
    assert not [f for f in os.listdir(tmp_path) if f.endswith(".tmp")]


def test_explicit_batch_flag_on_8x(fakes, models, tmp_path):
    trt, _ = fakes("8.5.2")
    build_engine(models["fixed"], "tao-bpnet", BuildOptions(precision="fp32", out_dir=str(tmp_path)))
    assert ("create_network", 1 << int(trt.NetworkDefinitionCreationFlag.EXPLICIT_BATCH)) in trt.calls
    assert "set_flag" not in _names(trt.calls)
    built = [c for c in trt.calls if isinstance(c, tuple) and c[0] == "built"][0][1]
    assert built["flags"] == []                      # fp32: TF32 cleared, nothing else set
    assert built["tactic_sources"] == 0b11000        # 8.x: cuBLAS, cuBLASLt, cuDNN dropped


def test_dynamic_batch_gets_optimization_profile(fakes, models, tmp_path):
    trt, _ = fakes("10.3.0")
    path, side = build_engine(models["dyn"], "tao-bpnet",
                              BuildOptions(precision="fp16", batch=BatchRange(1, 2, 4), out_dir=str(tmp_path)))
    assert ("set_shape", "input_1:0", (1, 64, 96, 3), (2, 64, 96, 3), (4, 64, 96, 3)) in trt.calls
    assert "add_optimization_profile" in _names(trt.calls)
    assert ".b1-4." in path and side["batch"] == {"min": 1, "opt": 2, "max": 4}


def test_int8_calibrator_serves_each_batch_once_then_none_and_cache_is_reused(fakes, models, tmp_path):
    trt, drv = fakes("10.3.0")
    cache = str(tmp_path / "calib.cache")
    opts = BuildOptions(precision="int8", calib=models["images"], calib_cache=cache, out_dir=str(tmp_path))
    path, side = build_engine(models["fixed"], "tao-bpnet", opts)
    gets = [c for c in trt.calls if isinstance(c, tuple) and c[0] == "get_batch"]
    assert len(gets) == 7 + 1 and gets[-1] == ("get_batch", None)
    seen = [c[1] for c in trt.calls if isinstance(c, tuple) and c[0] == "batch data"]
    assert len(seen) == 7 and seen[0].shape == (1, 64, 96, 3)
    assert seen[0].min() >= -0.5 and seen[0].max() < 0.5  # the profile's 1/256 - 0.5, read from device memory
    assert not all((seen[0] == c).all() for c in seen[1:])
    assert not fake_cuda_python.STATE.device_mem and not fake_cuda_python.STATE.host_mem   # buffers freed
    assert open(cache, "rb").read().startswith(b"TRT-10-EntropyCalibration2")
    assert side["calibration"]["batches_served"] == 7
    assert side["calibration"]["images"] == 7 and len(side["calibration"]["cache_sha256"]) == 64
    assert ("set_flag", trt.BuilderFlag.INT8) in trt.calls and ("set_flag", trt.BuilderFlag.FP16) in trt.calls
    # Second build: the cache is read, no image is served.
    trt2, _ = fakes("10.3.0")
    build_engine(models["fixed"], "tao-bpnet", BuildOptions(precision="int8", calib_cache=cache, out_dir=str(tmp_path)))
    assert "calibration cache used" in trt2.calls
    assert not [c for c in trt2.calls if isinstance(c, tuple) and c[0] == "get_batch"]
    # Same cache with other images: not reused, calibrated again.
    trt3, _ = fakes("10.3.0")
    build_engine(models["fixed"], "tao-bpnet", BuildOptions(precision="int8", calib=models["images"], calib_count=3,
                                                            calib_cache=cache, out_dir=str(tmp_path)))
    assert len([c for c in trt3.calls if isinstance(c, tuple) and c[0] == "get_batch"]) == 3 + 1


def test_dla_and_timing_cache(fakes, models, tmp_path):
    trt, _ = fakes("10.3.0")
    tc = str(tmp_path / "timing.cache")
    opts = BuildOptions(precision="fp16", dla_core=1, gpu_fallback=True, timing_cache=tc, out_dir=str(tmp_path))
    path, side = build_engine(models["fixed"], "tao-bpnet", opts)
    assert ("set_flag", trt.BuilderFlag.GPU_FALLBACK) in trt.calls
    built = [c for c in trt.calls if isinstance(c, tuple) and c[0] == "built"][0][1]
    assert built["dla"] == 1 and built["device"] == trt.DeviceType.DLA
    assert ".orin-dla1." in path and side["dla_core"] == 1
    assert open(tc, "rb").read() == b"+fake-timing"
    with pytest.raises(EngineError, match="2 DLA core"):
        fakes("10.3.0")
        build_engine(models["fixed"], "tao-bpnet", BuildOptions(dla_core=5, out_dir=str(tmp_path)))


def test_trt11_strongly_typed_takes_precision_from_onnx(fakes, models, tmp_path):
    trt, _ = fakes("11.4.0")
    path, side = build_engine(models["fp16"], "tao-bpnet", BuildOptions(precision="fp16", out_dir=str(tmp_path)))
    assert ("create_network", 1 << int(trt.NetworkDefinitionCreationFlag.STRONGLY_TYPED)) in trt.calls
    assert "set_flag" not in _names(trt.calls) and side["precision"] == "fp16"
    with pytest.raises(EngineError, match="prepare MODEL.onnx --profile P --fp16"):
        build_engine(models["fixed"], "tao-bpnet", BuildOptions(precision="fp16", out_dir=str(tmp_path)))
    with pytest.raises(EngineError, match="no implicit INT8 calibration.*edgepose quantize"):
        build_engine(models["fixed"], "tao-bpnet",
                     BuildOptions(precision="int8", calib=models["images"], out_dir=str(tmp_path)))


def test_parser_errors_are_one_engine_error(fakes, models, tmp_path):
    fakes("10.3.0", fail_parse=True)
    with pytest.raises(EngineError, match="cannot parse .*unsupported fake op"):
        build_engine(models["fixed"], "tao-bpnet", BuildOptions(out_dir=str(tmp_path)))


def test_requests_that_cannot_work_are_refused(fakes, models, tmp_path):
    fakes("10.3.0")
    with pytest.raises(EngineError, match="needs calibration images"):
        build_engine(models["fixed"], "tao-bpnet", BuildOptions(precision="int8", out_dir=str(tmp_path)))
    with pytest.raises(EngineError, match="fixed batch 1"):
        build_engine(models["fixed"], "tao-bpnet", BuildOptions(batch=BatchRange(1, 2, 4), out_dir=str(tmp_path)))
    with pytest.raises(EngineError, match="edgepose prepare .*--size 128x96"):
        build_engine(models["fixed"], "tao-bpnet", BuildOptions(size=(128, 96), out_dir=str(tmp_path)))
    with pytest.raises(UsageError):
        build_engine(models["fixed"], "tao-bpnet", BuildOptions(gpu_fallback=True, out_dir=str(tmp_path)))
    with pytest.raises(EngineError, match="DLA runs fp16 or int8"):
        build_engine(models["fixed"], "tao-bpnet", BuildOptions(precision="fp32", dla_core=0, out_dir=str(tmp_path)))
    fakes("8.4.1")
    with pytest.raises(Exception, match="too old"):
        build_engine(models["fixed"], "tao-bpnet", BuildOptions(out_dir=str(tmp_path)))


def test_missing_tensorrt_is_a_dependency_error(monkeypatch, models, tmp_path):
    import sys

    from edgepose.errors import DependencyError

    monkeypatch.setitem(sys.modules, "tensorrt", None)
    with pytest.raises(DependencyError, match="JetPack"):
        build_engine(models["fixed"], "tao-bpnet", BuildOptions(out_dir=str(tmp_path)))


@pytest.mark.parametrize("version,requested,onnx_kind,calib,flags,use_calib", [
    ("10.3.0", "fp32", "fp32", False, [], False),
    ("10.3.0", "fp16", "fp32", False, ["FP16"], False),
    ("10.3.0", "best", "fp32", False, ["FP16"], False),
    ("10.3.0", "best", "fp32", True, ["FP16", "INT8"], True),
    ("10.3.0", "int8", "int8", False, ["INT8"], False),
    ("8.6.1", "int8", "fp32", True, ["INT8"], True),
    ("11.4.0", "best", "int8", False, [], False),
    ("11.4.0", "int8", "int8", False, [], False),
])
def test_plan_precision(version, requested, onnx_kind, calib, flags, use_calib):
    caps = Capabilities.of(fake_tensorrt.make_fake_tensorrt(version))
    assert plan_precision(caps, requested, onnx_kind, calib) == (flags, use_calib)


def test_onnx_precision_and_file_name(models):
    import onnx

    assert onnx_precision(onnx.load(models["fixed"])) == "fp32"
    assert onnx_precision(onnx.load(models["fp16"])) == "fp16"
    assert engine_file_name("/x/m.onnx", "int8", BatchRange(1, 2, 4), (288, 384), "orin", "10.3.0") == \
        "m.int8.b1-4.288x384.orin.trt10.3.0.engine"


def test_check_sidecar_refuses_mismatches_with_the_rebuild_command(fakes, models, tmp_path):
    fakes("10.3.0")
    argv = [models["fixed"], "--profile", "tao-bpnet", "--precision", "fp16"]
    path, _ = build_engine(models["fixed"], "tao-bpnet", BuildOptions(out_dir=str(tmp_path), argv=argv))
    assert check_sidecar(path, "10.3.0.26", "Orin", "8.7")["precision"] == "fp16"
    with pytest.raises(EngineError) as e:
        check_sidecar(path, "10.7.0", "Orin", "8.7")
    msg = str(e.value)
    assert "\n" not in msg and "TensorRT 10.3.0, this machine has 10.7.0" in msg
    assert "edgepose build %s --profile tao-bpnet --precision fp16" % models["fixed"] in msg
    with pytest.raises(EngineError, match="compute capability 8.7, this GPU is 7.2"):
        check_sidecar(path, "10.3.0", "Xavier", "7.2")
    with pytest.raises(EngineError, match="GPU 'Orin'"):
        check_sidecar(path, "10.3.0", "Other", "8.7")
    os.remove(path + ".json")
    with pytest.raises(EngineError, match="no sidecar"):
        read_sidecar(path)
    with open(path + ".json", "w") as f:
        json.dump({"format": "other"}, f)
    with pytest.raises(EngineError, match="not an edgepose engine sidecar"):
        read_sidecar(path)


def test_sidecar_module_does_not_import_tensorrt():
    import ast

    import edgepose.engine.sidecar as sc

    tree = ast.parse(open(sc.__file__).read())
    mods = {a.name for n in ast.walk(tree) if isinstance(n, ast.Import) for a in n.names}
    mods |= {n.module or "" for n in ast.walk(tree) if isinstance(n, ast.ImportFrom)}
    assert not {m for m in mods if "tensorrt" in m or "pycuda" in m or m.endswith("trt")}


def test_build_cli_prints_engine(fakes, models, tmp_path, capsys):
    from edgepose.cli import main

    fakes("10.3.0")
    rc = main(["build", models["fixed"], "--profile", "tao-bpnet", "--precision", "fp16", "--out", str(tmp_path)])
    out = capsys.readouterr().out
    assert rc == 0 and "engine: " in out and ".fp16.b1.64x96.orin.trt10.3.0.engine" in out
    rc = main(["build", models["fixed"], "--profile", "tao-bpnet", "--precision", "int8", "--out", str(tmp_path)])
    assert rc == 1 and "needs calibration images" in capsys.readouterr().err


def test_build_modules_import_without_tensorrt_or_pycuda():
    import subprocess
    import sys

    code = ("import sys; sys.modules['tensorrt'] = None; sys.modules['pycuda'] = None; "
            "sys.modules['pycuda.driver'] = None\n"
            "import edgepose.engine.builder, edgepose.engine.calibrator, edgepose.engine.quantize, "
            "edgepose.engine.sidecar, edgepose.engine.calibset, edgepose.engine.trt, edgepose.onnxprep\n"
            "from edgepose.cli import main\n"
            "for c in ('build', 'prepare', 'quantize', 'calib', 'doctor'):\n"
            "    try:\n        main([c, '--help'])\n    except SystemExit as e:\n        assert e.code == 0, c\n"
            "assert 'tensorrt' not in [m for m in sys.modules if sys.modules[m] is not None]\n")
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert r.returncode == 0, r.stderr[-1000:]


@pytest.mark.parametrize("version,flags", [("11.4.0", []), ("10.3.0", ["INT8", "FP16"])])
def test_qdq_model_builds_int8_without_calibrator(fakes, models, tmp_path, version, flags):
    from edgepose.engine.quantize import quantize

    qdq = str(tmp_path / "tiny.int8.onnx")
    quantize(models["fixed"], qdq, "tao-bpnet", models["images"], method="minmax", count=3)
    trt, _ = fakes(version)
    path, side = build_engine(qdq, "tao-bpnet", BuildOptions(precision="int8", out_dir=str(tmp_path)))
    assert side["precision"] == "int8" and side["onnx_precision"] == "int8" and side["builder_flags"] == flags
    assert not [c for c in trt.calls if isinstance(c, tuple) and c[0] == "get_batch"]
    assert ".int8.b1.64x96.orin.trt%s.engine" % version in path


def test_dla_needs_a_fixed_batch_and_reports_its_layers(fakes, models, tmp_path):
    fakes("10.3.0")
    with pytest.raises(EngineError, match="DLA needs a fixed batch"):
        build_engine(models["dyn"], "tao-bpnet", BuildOptions(precision="fp16", batch=BatchRange(1, 2, 4), dla_core=0,
                                                              gpu_fallback=True, out_dir=str(tmp_path)))
    fakes("10.3.0", dla_layers=7)
    with pytest.raises(EngineError, match="6 of 13 layers cannot run on the DLA.*--gpu-fallback"):   # tiny: 13 nodes
        build_engine(models["fixed"], "tao-bpnet", BuildOptions(precision="fp16", dla_core=0, out_dir=str(tmp_path)))
    _, side = build_engine(models["fixed"], "tao-bpnet", BuildOptions(precision="fp16", dla_core=0, gpu_fallback=True,
                                                                      out_dir=str(tmp_path)))
    assert side["dla_layers"] == {"dla": 7, "layers": 13}
    fakes("10.3.0", dla_layers=0)
    with pytest.raises(EngineError, match="no layer of this model can run on DLA"):
        build_engine(models["fixed"], "tao-bpnet", BuildOptions(precision="fp16", dla_core=0, gpu_fallback=True,
                                                                out_dir=str(tmp_path)))


def test_unreadable_calibration_image_fails_the_build_and_writes_no_cache(fakes, models, tmp_path):
    import shutil

    images = tmp_path / "calib"
    shutil.copytree(models["images"], images)
    bad = sorted(os.listdir(images))[3]
    (images / bad).write_bytes(b"not an image")
    trt, _ = fakes("10.3.0")
    cache = str(tmp_path / "calib.cache")
    out = tmp_path / "out"
    with pytest.raises(EngineError, match="calibration failed.*get_batch \\(batch 4\\).*unreadable"):
        build_engine(models["fixed"], "tao-bpnet", BuildOptions(precision="int8", calib=str(images), calib_cache=cache,
                                                                out_dir=str(out)))
    assert not os.path.exists(cache) and not (out.exists() and os.listdir(out))
    assert len([c for c in trt.calls if isinstance(c, tuple) and c[0] == "batch data"]) == 3


def test_calibration_cache_is_keyed_on_model_and_tensorrt(fakes, models, tmp_path):
    cache = str(tmp_path / "calib.cache")
    fakes("10.3.0")
    build_engine(models["fixed"], "tao-bpnet", BuildOptions(precision="int8", calib=models["images"], calib_cache=cache,
                                                            out_dir=str(tmp_path)))
    trt, _ = fakes("10.4.0")          # another TensorRT: the scales are not reused, calibration runs again
    build_engine(models["fixed"], "tao-bpnet", BuildOptions(precision="int8", calib=models["images"], calib_cache=cache,
                                                            out_dir=str(tmp_path)))
    assert "calibration cache used" not in trt.calls
    assert len([c for c in trt.calls if isinstance(c, tuple) and c[0] == "get_batch"]) == 7 + 1
    fakes("10.4.0")                   # another model with only the cache: refused, nothing to calibrate from
    with pytest.raises(EngineError, match="made for another model_sha256"):
        build_engine(models["dyn"], "tao-bpnet", BuildOptions(precision="int8", batch=BatchRange(1, 1, 1),
                                                              calib_cache=cache, out_dir=str(tmp_path)))


def test_timing_cache_is_keyed_and_a_refused_one_is_replaced(fakes, models, tmp_path):
    tc = str(tmp_path / "timing.cache")
    fakes("10.3.0")
    path, _ = build_engine(models["fixed"], "tao-bpnet", BuildOptions(precision="fp16", timing_cache=tc,
                                                                      out_dir=str(tmp_path)))
    assert os.path.getmtime(path) <= os.path.getmtime(tc)      # engine written first
    trt, _ = fakes("10.4.0")
    build_engine(models["fixed"], "tao-bpnet", BuildOptions(precision="fp16", timing_cache=tc, out_dir=str(tmp_path)))
    assert ("create_timing_cache", b"") in trt.calls            # 10.3's cache not handed to 10.4
    trt, _ = fakes("10.4.0", refuse_timing_cache=True)
    build_engine(models["fixed"], "tao-bpnet", BuildOptions(precision="fp16", timing_cache=tc, out_dir=str(tmp_path)))
    assert [c for c in trt.calls if isinstance(c, tuple) and c[0] == "create_timing_cache"][-1] == \
        ("create_timing_cache", b"")


def test_build_with_cuda_python_when_pycuda_is_missing(fakes, models, tmp_path, monkeypatch):
    import sys

    fakes("10.3.0")
    fake_cuda_python.install(monkeypatch)
    monkeypatch.setitem(sys.modules, "pycuda", None)
    monkeypatch.setitem(sys.modules, "pycuda.driver", None)
    _, side = build_engine(models["fixed"], "tao-bpnet", BuildOptions(precision="int8", calib=models["images"],
                                                                      out_dir=str(tmp_path)))
    assert side["cuda_library"] == "cuda-python" and side["calibration"]["batches_served"] == 7
    assert fake_cuda_python.STATE.stack() == [] and not fake_cuda_python.STATE.device_mem
