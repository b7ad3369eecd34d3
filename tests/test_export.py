"""The ONNX export of BPNet-Lite (tools/bpnet_lite.py) matches PyTorch and has TAO's deployable contract."""
import os
import sys

import numpy as np
import pytest

torch = pytest.importorskip("torch")
ort = pytest.importorskip("onnxruntime")

sys.path.insert(0, os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "tools"))

from bpnet_lite import (HEATMAP_NAME, INPUT_NAME, PAF_NAME, BPNetLite, DeployableBPNet,  # noqa: E402
                        export_onnx)


@pytest.fixture(scope="module")
def tiny(tmp_path_factory):
    torch.manual_seed(0)
    net = BPNetLite(width=0.0625, stages=3, stage_convs=2, stage_kernel=3, stage_bn=True)
    # Random BatchNorm statistics, so that folding BN into the convs is really exercised.
    for m in net.modules():
        if isinstance(m, torch.nn.BatchNorm2d):
            m.running_mean.uniform_(-0.5, 0.5)
            m.running_var.uniform_(0.5, 2.0)
            m.weight.data.uniform_(0.5, 1.5)
            m.bias.data.uniform_(-0.2, 0.2)
    net.eval()
    path = str(tmp_path_factory.mktemp("export") / "tiny.onnx")
    export_onnx(net, path, (32, 48))
    return net, path


def test_onnx_matches_pytorch(tiny):
    net, path = tiny
    sess = ort.InferenceSession(path, providers=["CPUExecutionProvider"])
    x = np.random.default_rng(1).uniform(-0.5, 0.5, (2, 32, 48, 3)).astype(np.float32)
    heat, paf = sess.run([HEATMAP_NAME, PAF_NAME], {INPUT_NAME: x})
    with torch.no_grad():
        th, tp = DeployableBPNet(net).eval()(torch.from_numpy(x))
    assert heat.shape == (2, 4, 6, 19) and paf.shape == (2, 16, 24, 38)
    np.testing.assert_allclose(heat, th.numpy(), atol=1e-4, rtol=1e-4)
    np.testing.assert_allclose(paf, tp.numpy(), atol=1e-4, rtol=1e-4)


def test_paf_upsampling_is_nearest_neighbour(tiny):
    net, path = tiny
    sess = ort.InferenceSession(path, providers=["CPUExecutionProvider"])
    x = np.random.default_rng(2).uniform(-0.5, 0.5, (1, 32, 48, 3)).astype(np.float32)
    (paf,) = sess.run([PAF_NAME], {INPUT_NAME: x})
    with torch.no_grad():
        low = net(torch.from_numpy(x).permute(0, 3, 1, 2))[-1][0].permute(0, 2, 3, 1).numpy()
    np.testing.assert_allclose(paf, low.repeat(4, axis=1).repeat(4, axis=2), atol=1e-4, rtol=1e-4)


def test_contract_names_layout_dynamic_batch(tiny):
    import onnx

    _, path = tiny
    model = onnx.load(path)
    (inp,) = model.graph.input
    assert inp.name == INPUT_NAME
    dims = [d.dim_param or d.dim_value for d in inp.type.tensor_type.shape.dim]
    assert isinstance(dims[0], str) and dims[1:] == [32, 48, 3]  # NHWC, dynamic batch
    assert [o.name for o in model.graph.output] == [HEATMAP_NAME, PAF_NAME]
    ops = {n.op_type for n in model.graph.node}
    assert "ConvTranspose" in ops and "BatchNormalization" not in ops  # BN folded, as TAO's export
