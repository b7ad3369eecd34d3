"""On a device (Jetson or any NVIDIA GPU with TensorRT + pycuda): build real engines and compare with ONNX Runtime.

Run with ``make device-check`` (sets up a --system-site-packages venv) or
``EDGEPOSE_GPU_TESTS=1 python -m pytest -m gpu tests/gpu``. Skipped elsewhere (tests/conftest.py).
For each precision the engine is built with ``build_engine``, checked with ``check_sidecar``, run
through ``open_backend`` and compared with ONNX Runtime on the same preprocessed images: max abs
difference of the maps, and (with the bundled demo model) the same number of people decoded.
"""
import os

import numpy as np
import pytest

pytestmark = pytest.mark.gpu

SIZE = (128, 160)
# max abs diff allowed, relative to the float32 maps' max magnitude
TOLERANCE = {"fp32": 1e-3, "fp16": 2e-2, "int8": 0.25}


@pytest.fixture(scope="module")
def work(tmp_path_factory):
    from tiny_bpnet import make_images, make_tiny_bpnet

    from edgepose.models import bundled_model
    from edgepose.onnxprep import prepare

    d = tmp_path_factory.mktemp("gpu")
    demo, demo_profile = bundled_model()
    if demo:
        src, profile = demo, demo_profile
    else:
        src, profile = make_tiny_bpnet(d / "tiny.onnx", size=SIZE), "tao-bpnet"
    prepared = str(d / "model.onnx")
    prepare(src, prepared, profile, size=SIZE, batch="1")
    images = str(d / "calib")
    try:
        from edgepose.synth import render_scene

        import cv2

        os.makedirs(images, exist_ok=True)
        for i in range(16):
            cv2.imwrite(os.path.join(images, "s%02d.jpg" % i), render_scene(i, size=(240, 320)).image)
    except ImportError:
        make_images(images, count=16)
    return {"onnx": prepared, "profile": profile, "images": images, "dir": str(d), "demo": bool(demo)}


def _inputs(work):
    import cv2

    from edgepose.engine.calibrator import list_images
    from edgepose.preprocess import preprocess
    from edgepose.profiles import load_profile

    prof = load_profile(work["profile"])
    return [preprocess(cv2.imread(p), prof, size=SIZE)[0] for p in list_images(work["images"])[:4]], prof


@pytest.mark.parametrize("precision", ["fp32", "fp16", "int8"])
def test_engine_matches_onnxruntime(work, precision):
    from edgepose.backends import open_backend
    from edgepose.engine.builder import BuildOptions, build_engine
    from edgepose.engine.sidecar import check_sidecar
    from edgepose.engine.trt import Capabilities, import_trt

    trt = import_trt()
    caps = Capabilities.of(trt)
    model = work["onnx"]
    if caps.strongly_typed and precision == "fp16":
        from edgepose.onnxprep import prepare

        model = os.path.join(work["dir"], "model.fp16.onnx")
        prepare(work["onnx"], model, work["profile"], size=SIZE, fp16=True, check=False)
    calib = None
    if precision == "int8":
        if caps.strongly_typed:
            from edgepose.engine.quantize import quantize

            model = os.path.join(work["dir"], "model.int8.onnx")
            quantize(work["onnx"], model, work["profile"], work["images"])
        else:
            calib = work["images"]
    opts = BuildOptions(precision=precision, calib=calib, calib_cache=os.path.join(work["dir"], "c.cache") if calib else None,
                        out_dir=os.path.join(work["dir"], "engines"), workspace_mib=512)
    path, side = build_engine(model, work["profile"], opts)
    dev = side["device"]
    check_sidecar(path, trt.__version__, dev["name"], dev["compute_capability"])
    inputs, prof = _inputs(work)
    ref = open_backend(work["onnx"])
    eng = open_backend(path, profile=prof)
    with eng:
        for x in inputs:
            a = ref.infer({prof.input.name: x})
            b = eng.infer({prof.input.name: x})
            for name in (prof.outputs.heatmap.name, prof.outputs.paf.name):
                scale = max(1e-6, float(np.abs(a[name]).max()))
                diff = float(np.abs(a[name].astype(np.float64) - b[name].astype(np.float64)).max())
                print("%s %s max abs diff %.4g (scale %.3g)" % (precision, name, diff, scale))
                assert diff <= TOLERANCE[precision] * scale, (precision, name, diff, scale)
            if work["demo"]:
                from edgepose.decode import PoseDecoder

                dec = PoseDecoder(prof)
                assert len(dec.decode(a)) == len(dec.decode(b))
