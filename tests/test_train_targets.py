"""The demo model's training tensors (tools/torch_targets.py) and ONNX round trip (tools/bpnet_lite.py).

Skipped without torch (a training-only extra: `pip install torch==2.13.0`)."""
import os
import sys

import numpy as np
import pytest

torch = pytest.importorskip("torch")

sys.path.insert(0, os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "tools"))

import demo_data  # noqa: E402



def _scene_batch(n=4, people=8):
    from edgepose.synth import render_scene

    scenes = [render_scene([31, i], size=(288, 384)) for i in range(n)]
    frames = [(s.image, s.keypoints, [1.0] * len(s)) for s in scenes]
    return scenes, {k: torch.from_numpy(v) for k, v in demo_data.pack_frames(frames, (288, 384)).items()}


def test_torch_targets_equal_the_numpy_renderer():
    import torch_targets
    from targets import render_heatmaps, render_pafs

    from edgepose.preprocess import compute_transform

    scenes, b = _scene_batch()
    x, heat, paf, emph, k = torch_targets.make_batch(b["images"], b["keypoints"], b["priority"], (240, 320),
                                                     augment=False)
    assert x.shape == (4, 3, 240, 320) and heat.shape == (4, 19, 30, 40) and paf.shape == (4, 38, 30, 40)
    for i, s in enumerate(scenes):
        tf = compute_transform(288, 384, 240, 320, "letterbox")
        kn = tf.to_network(s.keypoints)
        kn[..., 2] = s.keypoints[..., 2]
        np.testing.assert_allclose(heat[i].numpy(), render_heatmaps(kn, (240, 320), 8, 8.0), atol=1e-4)
        np.testing.assert_allclose(paf[i].numpy(), render_pafs(kn, (240, 320), 8, 8.0), atol=1e-4)
        vis = np.nan_to_num(s.keypoints[..., 2]) > 1
        assert emph[i].numpy().max() <= heat[i, :18].numpy().max() + 1e-6
        assert (emph[i].numpy().max() > 0.9) == bool(vis.any())


def test_letterbox_input_matches_preprocess():
    import torch_targets

    from edgepose.preprocess import preprocess
    from edgepose.profiles import load_profile

    scenes, b = _scene_batch(2)
    x, *_ = torch_targets.make_batch(b["images"], b["keypoints"], b["priority"], (240, 320), augment=False)
    prof = load_profile("tao-bpnet")
    for i, s in enumerate(scenes):
        ref, _ = preprocess(s.image, prof, size=(240, 320))
        assert np.abs(x[i].permute(1, 2, 0).numpy() - ref[0]).mean() < 0.004  # uint8 rounding of cv2.resize


def test_augmented_keypoints_follow_the_image():
    """A keypoint's heatmap peak lands where the warped image has the keypoint's marker."""
    import torch_targets

    img = np.zeros((1, 288, 384, 3), np.uint8)
    img[0, 100:104, 200:204] = 255  # a bright square at (201.5, 101.5)
    kps = np.zeros((1, 8, 18, 3), np.float32)
    kps[0, 0, 0] = (201.5, 101.5, 2)
    kps[0, 0, 1] = (210.0, 140.0, 2)
    g = torch.Generator().manual_seed(3)
    for _ in range(10):
        x, heat, paf, emph, k = torch_targets.make_batch(torch.from_numpy(img), torch.from_numpy(kps),
                                                         torch.ones(1, 8), (240, 320), generator=g)
        bright = (x[0].mean(0) > 0.2).nonzero().float()
        if len(bright) == 0 or k[0, 0, 0, 2] == 0:
            continue
        cy, cx = bright.mean(0).tolist()
        # the square's centre and the transformed keypoint agree (after a flip the nose keeps its index)
        assert abs(cx - float(k[0, 0, 0, 0])) < 1.5 and abs(cy - float(k[0, 0, 0, 1])) < 1.5


def test_init_from_onnx_reproduces_the_model(tmp_path):
    ort = pytest.importorskip("onnxruntime")
    from bpnet_lite import BPNetLite, DeployableBPNet, arch_from_onnx, export_onnx, load_onnx_weights

    torch.manual_seed(0)
    net = BPNetLite(width=0.0625, deep_width=0.125, stage_width=0.125, stages=2, stage_convs=2, stage_kernel=3,
                    stage_bn=True)
    for m in net.modules():
        if isinstance(m, torch.nn.BatchNorm2d):
            m.running_mean.uniform_(-0.5, 0.5)
            m.running_var.uniform_(0.5, 2.0)
    net.eval()
    path = str(tmp_path / "m.onnx")
    export_onnx(net, path, (32, 48))
    arch = arch_from_onnx(path)
    assert arch == {"width": 0.0625, "deep_width": 0.125, "stage_width": 0.125, "stages": 2, "stage_convs": 2,
                    "stage_kernel": 3}
    again = BPNetLite(stage_bn=True, **arch)
    loaded, total = load_onnx_weights(again, path)
    assert loaded == total
    x = np.random.default_rng(1).uniform(-0.5, 0.5, (1, 32, 48, 3)).astype(np.float32)
    ref = ort.InferenceSession(path, providers=["CPUExecutionProvider"]).run(None, {"input_1:0": x})
    with torch.no_grad():
        heat, paf = DeployableBPNet(again.eval())(torch.from_numpy(x))
    np.testing.assert_allclose(heat.numpy(), ref[0], atol=1e-4)
    np.testing.assert_allclose(paf.numpy(), ref[1], atol=1e-4)


def test_continuing_from_an_onnx_keeps_batchnorm_statistics(tmp_path):
    """An exported model's BatchNorm is folded into its convs. Continued from the ONNX with the statistics fixed,
    the network in training mode computes what the ONNX computes; with batch statistics it is another network
    (the reason tools/train_demo.py fixes them by default when every layer comes from the ONNX)."""
    ort = pytest.importorskip("onnxruntime")
    from bpnet_lite import BPNetLite, DeployableBPNet, export_onnx, load_onnx_weights
    from train_demo import set_train_mode

    torch.manual_seed(1)
    net = BPNetLite(width=0.0625, stage_width=0.125, stages=2, stage_convs=1, stage_kernel=3, stage_bn=True)
    for m in net.modules():
        if isinstance(m, torch.nn.BatchNorm2d):
            m.running_mean.uniform_(-0.5, 0.5)
            m.running_var.uniform_(0.5, 2.0)
    path = str(tmp_path / "m.onnx")
    export_onnx(net.eval(), path, (32, 48))
    again = BPNetLite(width=0.0625, stage_width=0.125, stages=2, stage_convs=1, stage_kernel=3, stage_bn=True)
    load_onnx_weights(again, path)
    x = np.random.default_rng(2).uniform(-0.5, 0.5, (4, 32, 48, 3)).astype(np.float32)
    ref = ort.InferenceSession(path, providers=["CPUExecutionProvider"]).run(None, {"input_1:0": x})[0]
    wrapped = DeployableBPNet(again)
    with torch.no_grad():
        set_train_mode(wrapped, True)
        fixed = wrapped(torch.from_numpy(x))[0].numpy()
        set_train_mode(wrapped, False)
        batch_stats = wrapped(torch.from_numpy(x))[0].numpy()
    np.testing.assert_allclose(fixed, ref, atol=1e-4)
    assert np.abs(batch_stats - ref).max() > 0.01
