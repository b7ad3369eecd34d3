"""BPNet-Lite (NVIDIA TAO BodyPoseNet's architecture family) in PyTorch, with a width multiplier.

Architecture (see ../shared/docs/reference-facts.md section 1), every channel count scaled by ``width``:

- Backbone (channels x ``width``): VGG-style 3x3 conv + BatchNorm + ReLU, strided convs instead of max-pool, total stride 8:
  block_1a/1b 64 (s1) -> block_2a (s2)/2b 128 -> block_3a (s2)/3b/3c/3d 256 -> block_4a (s2)/4b 512
  -> block_6a 256 -> channel_reduction_conv 128 (x ``stage_width``: it feeds the stages). Backbone convs have no bias (BatchNorm follows).
- Stages (channels x ``stage_width``, default ``width``). Stage 1: shared trunk 3 x (3x3, 128) -> per branch 1x1 x 512 -> 1x1 output (38 PAF, 19 heatmaps).
- Refinement stages (``stages - 1`` of them): input concat[features, heatmaps, PAFs] -> shared
  ``stage_convs`` x (``stage_kernel`` x ``stage_kernel``, 128) -> per branch 1x1 x 128 -> 1x1 output.
  TAO uses 5 x (7x7); the bundled demo model uses fewer convs for CPU speed (see train_demo.py).
  ``stage_bn``: BatchNorm after the stage convs while training (faster convergence from scratch);
  it is folded into the convs at export, so the deployed graph is conv + bias + ReLU as in TAO.

``BPNetLite.forward(x NCHW)`` returns the list of (paf, heatmap) pairs of every stage (all supervised).
``DeployableBPNet`` wraps it into TAO's deployable contract: NHWC input, last-stage heatmap (NHWC,
stride 8) and the PAF upsampled x4 by a fixed nearest-neighbour ConvTranspose (NHWC, stride 2).

Training-only code: the installed package never imports torch.
"""
import numpy as np
import torch
from torch import nn

NUM_HEATMAPS = 19   # 18 keypoints + background
NUM_PAFS = 38       # 19 limbs x (x, y)

# (name, channels at width 1.0, stride)
BACKBONE = (
    ("block_1a", 64, 1), ("block_1b", 64, 1),
    ("block_2a", 128, 2), ("block_2b", 128, 1),
    ("block_3a", 256, 2), ("block_3b", 256, 1), ("block_3c", 256, 1), ("block_3d", 256, 1),
    ("block_4a", 512, 2), ("block_4b", 512, 1),
    ("block_6a", 256, 1), ("channel_reduction_conv", 128, 1),
)


def _ch(c, width):
    return max(8, int(round(c * width)))


def _conv_bn_relu(cin, cout, stride):
    return nn.Sequential(
        nn.Conv2d(cin, cout, 3, stride=stride, padding=1, bias=False),
        nn.BatchNorm2d(cout),
        nn.ReLU(inplace=True),
    )


def _conv_relu(cin, cout, k, bn=False):
    if bn:  # BatchNorm for faster training; folded into the conv at export (same deployed graph)
        return nn.Sequential(nn.Conv2d(cin, cout, k, padding=k // 2, bias=False), nn.BatchNorm2d(cout),
                             nn.ReLU(inplace=True))
    return nn.Sequential(nn.Conv2d(cin, cout, k, padding=k // 2), nn.ReLU(inplace=True))


class _Branch(nn.Module):
    """Per-branch head: 1x1 conv + ReLU -> 1x1 output conv."""

    def __init__(self, cin, hidden, cout, bn=False):
        super().__init__()
        self.hidden = _conv_relu(cin, hidden, 1, bn)
        self.out = nn.Conv2d(hidden, cout, 1)

    def forward(self, x):
        return self.out(self.hidden(x))


class _Stage(nn.Module):
    """Shared trunk, then a PAF branch and a heatmap branch."""

    def __init__(self, cin, trunk_ch, trunk_convs, kernel, hidden, bn=False):
        super().__init__()
        layers = []
        for i in range(trunk_convs):
            layers.append(_conv_relu(cin if i == 0 else trunk_ch, trunk_ch, kernel, bn))
        self.trunk = nn.Sequential(*layers)
        self.paf = _Branch(trunk_ch, hidden, NUM_PAFS, bn)
        self.heatmap = _Branch(trunk_ch, hidden, NUM_HEATMAPS, bn)

    def forward(self, x):
        t = self.trunk(x)
        return self.paf(t), self.heatmap(t)


class BPNetLite(nn.Module):
    """BPNet-Lite with a width multiplier; ``forward`` returns ``[(paf, heatmap)] * stages`` (NCHW)."""

    def __init__(self, width=1.0, stages=3, stage_convs=5, stage_kernel=7, stage_width=None, stage_bn=False,
                 deep_width=None):
        super().__init__()
        stage_width = width if stage_width is None else stage_width
        deep_width = width if deep_width is None else deep_width
        self.config = dict(width=width, stages=stages, stage_convs=stage_convs, stage_kernel=stage_kernel,
                           stage_width=stage_width, stage_bn=stage_bn, deep_width=deep_width)
        layers, cin = [], 3
        for name, c, stride in BACKBONE:
            if name == "channel_reduction_conv":
                mult = stage_width
            elif name.startswith(("block_1", "block_2")):
                mult = width
            else:
                mult = deep_width
            cout = _ch(c, mult)
            layers.append(_conv_bn_relu(cin, cout, stride))
            cin = cout
        self.backbone = nn.Sequential(*layers)
        feat = cin
        trunk = _ch(128, stage_width)
        self.stages = nn.ModuleList([_Stage(feat, trunk, 3, 3, _ch(512, stage_width), stage_bn)])
        for _ in range(stages - 1):
            self.stages.append(_Stage(feat + NUM_HEATMAPS + NUM_PAFS, trunk, stage_convs, stage_kernel,
                                      _ch(128, stage_width), stage_bn))

    def forward(self, x):
        feats = self.backbone(x)
        outs = []
        paf, heat = self.stages[0](feats)
        outs.append((paf, heat))
        for stage in self.stages[1:]:
            paf, heat = stage(torch.cat([feats, heat, paf], dim=1))
            outs.append((paf, heat))
        return outs


class DeployableBPNet(nn.Module):
    """TAO's deployable contract around a ``BPNetLite``.

    Input ``(N, H, W, 3)`` RGB with value pixel/256 - 0.5. Outputs ``heatmap`` ``(N, H/8, W/8, 19)`` and
    ``paf`` ``(N, H/2, W/2, 38)``: the last stage's PAF upsampled x4 by a ConvTranspose2d(38, 38, 4,
    stride 4, groups=38) whose kernel is all ones and bias zero, i.e. nearest-neighbour, as in TAO.
    """

    def __init__(self, net):
        super().__init__()
        self.net = net
        up = nn.ConvTranspose2d(NUM_PAFS, NUM_PAFS, 4, stride=4, groups=NUM_PAFS, bias=True)
        with torch.no_grad():
            up.weight.fill_(1.0)
            up.bias.zero_()
        up.weight.requires_grad_(False)
        up.bias.requires_grad_(False)
        self.upsample = up

    def forward(self, x):
        paf, heat = self.net(x.permute(0, 3, 1, 2))[-1]
        return heat.permute(0, 2, 3, 1), self.upsample(paf).permute(0, 2, 3, 1)


def fuse_batchnorm(net):
    """A copy of ``net`` (eval mode) with every Conv+BatchNorm pair folded into one conv (as TAO's export)."""
    import copy

    from torch.nn.utils.fusion import fuse_conv_bn_eval

    net = copy.deepcopy(net).eval()
    for mod in list(net.modules()):
        if not isinstance(mod, nn.Sequential):
            continue
        kids = list(mod.children())
        if len(kids) >= 2 and isinstance(kids[0], nn.Conv2d) and isinstance(kids[1], nn.BatchNorm2d):
            mod[0] = fuse_conv_bn_eval(kids[0], kids[1])
            mod[1] = nn.Identity()
    return net


HEATMAP_NAME = "heatmap_out/BiasAdd:0"
PAF_NAME = "conv2d_transpose_1/BiasAdd:0"
INPUT_NAME = "input_1:0"


ARCH_KEY = "edgepose_bpnet_lite_arch"   # ONNX metadata: the BPNetLite config (JSON), read by arch_from_onnx


def export_onnx(net, path, size, opset=13):
    """Write ``net`` (a BPNetLite) as a deployable TAO-contract ONNX with input size ``(H, W)``, dynamic batch.

    The architecture (``net.config``) is stored in the model's metadata (``ARCH_KEY``) so that a later
    training run can rebuild the same network and start from these weights (``load_onnx_weights``).
    """
    import io
    import json
    import os
    import warnings

    import onnx

    h, w = size
    model = DeployableBPNet(fuse_batchnorm(net)).eval()
    dummy = torch.zeros(1, h, w, 3)
    buf = io.BytesIO()
    with torch.no_grad(), warnings.catch_warnings():
        warnings.simplefilter("ignore")
        torch.onnx.export(
            model, (dummy,), buf, input_names=[INPUT_NAME], output_names=[HEATMAP_NAME, PAF_NAME],
            dynamic_axes={INPUT_NAME: {0: "N"}, HEATMAP_NAME: {0: "N"}, PAF_NAME: {0: "N"}},
            opset_version=opset, do_constant_folding=True, dynamo=False)
    proto = onnx.load_from_string(buf.getvalue())
    cfg = {k: v for k, v in net.config.items() if k != "stage_bn"}
    proto.metadata_props.add(key=ARCH_KEY, value=json.dumps(cfg, sort_keys=True))
    tmp = str(path) + ".tmp"
    with open(tmp, "wb") as f:
        f.write(proto.SerializeToString())
    os.replace(tmp, path)
    return path


def _onnx_convs(path):
    """The Conv nodes of an exported model, in graph order: list of (weight (O, I, k, k), bias (O,))."""
    import onnx
    from onnx import numpy_helper

    model = onnx.load(path)
    inits = {t.name: numpy_helper.to_array(t) for t in model.graph.initializer}
    convs = []
    for node in model.graph.node:
        if node.op_type != "Conv":
            continue
        w = inits.get(node.input[1])
        b = inits.get(node.input[2]) if len(node.input) > 2 else None
        if w is None:
            raise ValueError("%s: Conv %s has no constant weight" % (path, node.name))
        convs.append((w, b if b is not None else np.zeros(w.shape[0], np.float32)))
    return model, convs


def arch_from_onnx(path):
    """The BPNetLite config of an exported model: from its metadata, or inferred from the conv shapes
    (models exported before the metadata existed, e.g. the first bundled demo model)."""
    import json

    model, convs = _onnx_convs(path)
    for p in model.metadata_props:
        if p.key == ARCH_KEY:
            return json.loads(p.value)
    nb = len(BACKBONE)
    if len(convs) < nb + 7:
        raise ValueError("%s: %d convs, not a BPNet-Lite export" % (path, len(convs)))
    out_ch = [w.shape[0] for w, _ in convs]
    width = out_ch[0] / 64.0
    deep = out_ch[4] / 256.0
    stage_width = out_ch[nb - 1] / 128.0
    heads = [i for i, c in enumerate(out_ch) if c == NUM_HEATMAPS]
    stages = len(heads)
    # a refinement stage: trunk convs, then 2 per branch (hidden + output) for PAF and heatmap
    if stages > 1:
        first_ref = heads[0] + 1
        stage_convs = heads[1] - first_ref - 3
        kernel = int(convs[first_ref][0].shape[-1])
    else:
        stage_convs, kernel = 3, 3
    return dict(width=width, deep_width=deep, stage_width=stage_width, stages=stages, stage_convs=stage_convs,
                stage_kernel=kernel)


def _torch_convs(net):
    """(conv, batchnorm or None) pairs of ``net`` in forward order (the order of the exported Conv nodes)."""
    def seq(m):
        kids = list(m.children())
        return kids[0], (kids[1] if len(kids) > 1 and isinstance(kids[1], nn.BatchNorm2d) else None)

    pairs = [seq(m) for m in net.backbone]
    for stage in net.stages:
        pairs += [seq(m) for m in stage.trunk]
        for branch in (stage.paf, stage.heatmap):
            pairs += [seq(branch.hidden), (branch.out, None)]
    return pairs


def load_onnx_weights(net, path):
    """Initialise ``net`` from an exported model's (BatchNorm-folded) convs, layer by layer in forward order.

    A conv with BatchNorm gets the folded weight, and its BatchNorm is reset to pass the folded bias
    through (gamma 1, beta = bias, mean 0, var 1 - eps): in eval mode the network then computes exactly
    what the ONNX does. Layers whose shapes differ (another architecture) keep their initialisation.
    Returns (loaded, total) layer counts.
    """
    _, convs = _onnx_convs(path)
    pairs = _torch_convs(net)
    loaded = 0
    with torch.no_grad():
        for (conv, bn), (w, b) in zip(pairs, convs):
            if tuple(conv.weight.shape) != tuple(w.shape):
                continue
            conv.weight.copy_(torch.from_numpy(np.array(w, dtype=np.float32)))
            if bn is not None:
                bn.weight.fill_(1.0)
                bn.bias.copy_(torch.from_numpy(np.array(b, dtype=np.float32)))
                bn.running_mean.zero_()
                bn.running_var.fill_(1.0 - bn.eps)
            elif conv.bias is not None:
                conv.bias.copy_(torch.from_numpy(np.array(b, dtype=np.float32)))
            loaded += 1
    return loaded, len(pairs)
