"""edgepose quantize: symmetric Q/DQ (per-channel weights) that runs on ONNX Runtime and suits TensorRT."""
import os

import numpy as np
import onnx
import pytest

from edgepose.engine.quantize import check_qdq, quantize
from edgepose.errors import UsageError
from tiny_bpnet import HEATMAP, INPUT, PAF, make_images, make_tiny_bpnet


@pytest.fixture(scope="module")
def setup(tmp_path_factory):
    d = tmp_path_factory.mktemp("q")
    model = make_tiny_bpnet(d / "tiny.onnx", size=(64, 96))
    images = str(d / "calib")
    make_images(images, count=8)
    return model, images, d


@pytest.mark.parametrize("method", ["entropy", "minmax", "percentile"])
def test_quantize_runs_and_has_tensorrt_form(setup, method):
    import onnxruntime as ort

    model, images, d = setup
    out = str(d / ("q_%s.onnx" % method))
    rep = quantize(model, out, "tao-bpnet", images, method=method, count=6)
    assert rep["images"] == 6 and rep["problems"] == []
    m = onnx.load(out)
    ops = [n.op_type for n in m.graph.node]
    assert ops.count("QuantizeLinear") >= 5 and ops.count("DequantizeLinear") >= ops.count("QuantizeLinear")
    # every zero point is int8 0 (symmetric), weights per channel (scale vectors)
    inits = {t.name: t for t in m.graph.initializer}
    for n in m.graph.node:
        if n.op_type in ("QuantizeLinear", "DequantizeLinear") and len(n.input) > 2:
            zp = inits[n.input[2]]
            assert zp.data_type == onnx.TensorProto.INT8
            assert not onnx.numpy_helper.to_array(zp).any()
    assert rep["per_channel"] >= 5
    # runs on ONNX Runtime and stays close to float32
    x = {INPUT: (np.random.default_rng(1).random((1, 64, 96, 3), dtype=np.float32) - 0.5)}
    ref = ort.InferenceSession(model, providers=["CPUExecutionProvider"]).run([HEATMAP, PAF], x)
    got = ort.InferenceSession(out, providers=["CPUExecutionProvider"]).run([HEATMAP, PAF], x)
    for a, b in zip(ref, got):
        assert a.shape == b.shape
        assert np.abs(a - b).max() < 0.25 * np.abs(a).max()


def test_check_qdq_flags_asymmetric(setup):
    model, images, d = setup
    out = str(d / "q.onnx")
    quantize(model, out, "tao-bpnet", images, method="minmax", count=4)
    m = onnx.load(out)
    zp_name = [n.input[2] for n in m.graph.node if n.op_type == "QuantizeLinear"][0]
    zp = [t for t in m.graph.initializer if t.name == zp_name][0]
    zp.CopyFrom(onnx.numpy_helper.from_array(np.array(3, np.int8), zp_name))
    assert any("is not 0" in p for p in check_qdq(m)["problems"])
    assert check_qdq(onnx.load(model))["problems"] == ["no QuantizeLinear/DequantizeLinear nodes"]


def test_quantize_cli_and_errors(setup, capsys):
    from edgepose.cli import main

    model, images, d = setup
    out = str(d / "cli.onnx")
    assert main(["quantize", model, "--profile", "tao-bpnet", "--calib", images, "--out", out, "--count", "3"]) == 0
    assert "QuantizeLinear" in capsys.readouterr().out
    with pytest.raises(UsageError, match="not a directory"):
        quantize(model, out, "tao-bpnet", str(d / "nope"))


def test_runtime_batchnorm_statistics_are_flagged(tfpose_model):
    from edgepose.engine.quantize import runtime_statistics_warning

    note = runtime_statistics_warning(onnx.load(tfpose_model))
    assert note and "training-mode export" in note


def test_entropy_ranges_are_not_minmax(setup):
    """ONNX Runtime's own entropy settings (128 bins) give minmax ranges; ours use TensorRT's 2048 bins."""
    model, images, d = setup

    def scales(path):
        m = onnx.load(path)
        inits = {t.name: onnx.numpy_helper.to_array(t) for t in m.graph.initializer}
        return {n.input[0]: float(inits[n.input[1]]) for n in m.graph.node
                if n.op_type == "QuantizeLinear" and inits[n.input[1]].size == 1}

    quantize(model, str(d / "e.onnx"), "tao-bpnet", images, method="entropy", count=6)
    quantize(model, str(d / "m.onnx"), "tao-bpnet", images, method="minmax", count=6)
    e, m = scales(str(d / "e.onnx")), scales(str(d / "m.onnx"))
    assert set(e) == set(m)
    assert any(abs(e[k] - m[k]) > 1e-3 * m[k] for k in e)
    assert not [f for f in os.listdir(d) if f.startswith(".edgepose-quant-")]


def test_bundled_demo_model_quantizes(tmp_path):
    from edgepose.models import bundled_model

    path, profile = bundled_model()
    if not path:
        pytest.skip("bundled demo model not installed")
    make_images(tmp_path / "c", count=4, size=(192, 256))
    rep = quantize(path, str(tmp_path / "d.onnx"), profile, str(tmp_path / "c"), method="minmax")
    assert rep["problems"] == [] and rep["quantize"] >= 20


def test_opset_11_model_is_upgraded_before_quantizing(setup, tmp_path):
    """Per-channel DequantizeLinear needs opset 13: an opset-11 model is converted first, so the output is valid."""
    from tiny_bpnet import make_tiny_bpnet_model

    _, images, _ = setup
    src = str(tmp_path / "tiny11.onnx")
    onnx.save(make_tiny_bpnet_model(size=(64, 96), opset=11), src)
    out = str(tmp_path / "q11.onnx")
    rep = quantize(src, out, "tao-bpnet", images, method="minmax", count=4)
    m = onnx.load(out)
    assert max(o.version for o in m.opset_import if o.domain in ("", "ai.onnx")) >= 13
    assert rep["problems"] == [] and rep["per_channel"] >= 5
    onnx.checker.check_model(m)


def test_check_qdq_flags_per_channel_below_opset_13(setup):
    model, images, d = setup
    out = str(d / "q_op.onnx")
    quantize(model, out, "tao-bpnet", images, method="minmax", count=4)
    m = onnx.load(out)
    for o in m.opset_import:
        if o.domain in ("", "ai.onnx"):
            o.version = 12
    assert any("needs opset 13" in p for p in check_qdq(m)["problems"])
