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

    def __init__(self, width=1.0, stages=3, stage_convs=5, stage_kernel=7, stage_width=None, stage_bn=False):
        super().__init__()
        stage_width = width if stage_width is None else stage_width
        self.config = dict(width=width, stages=stages, stage_convs=stage_convs, stage_kernel=stage_kernel,
                           stage_width=stage_width, stage_bn=stage_bn)
        layers, cin = [], 3
        for name, c, stride in BACKBONE:
            cout = _ch(c, stage_width if name == "channel_reduction_conv" else width)
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


def export_onnx(net, path, size, opset=13):
    """Write ``net`` (a BPNetLite) as a deployable TAO-contract ONNX with input size ``(H, W)``, dynamic batch."""
    import io
    import os
    import warnings

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
    tmp = str(path) + ".tmp"
    with open(tmp, "wb") as f:
        f.write(buf.getvalue())
    os.replace(tmp, path)
    return path
