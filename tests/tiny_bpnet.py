"""A tiny random-weight ONNX model with the TAO BodyPoseNet I/O contract, for tests.

``make_tiny_bpnet(path, batch="N", size=(64, 96))`` writes a model with:

- input ``input_1:0``, NHWC ``[batch, H, W, 3]`` float32;
- output ``heatmap_out/BiasAdd:0``, NHWC ``[batch, H/8, W/8, 19]`` (stride 8);
- output ``conv2d_transpose_1/BiasAdd:0``, NHWC ``[batch, H/2, W/2, 38]`` (stride 2, made like TAO's
  deployable export: a fixed ConvTranspose 4x4 stride 4 on a stride-8 PAF).

It contains a constant subgraph (so constant folding has work to do) and a dead node (so cleanup does).
Shared by every test that needs "a BodyPoseNet-shaped ONNX" (prepare, quantize, build, runtime).
"""
import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

INPUT = "input_1:0"
HEATMAP = "heatmap_out/BiasAdd:0"
PAF = "conv2d_transpose_1/BiasAdd:0"


def _dim(v):
    return v if isinstance(v, (int, str)) else int(v)


def make_tiny_bpnet_model(batch="N", size=(64, 96), seed=0, opset=13):
    """The ``onnx.ModelProto`` (see module doc). ``batch``: int or a symbolic name; ``size``: (H, W)."""
    rng = np.random.default_rng(seed)
    h, w = size
    inits = []
    nodes = []

    def const(name, arr):
        inits.append(numpy_helper.from_array(np.asarray(arr, dtype=np.float32), name))
        return name

    def conv(x, cin, cout, k, stride, name, relu=True):
        wname = const(name + "/W", rng.normal(0, (2.0 / (cin * k * k)) ** 0.5, (cout, cin, k, k)))
        bname = const(name + "/B", rng.normal(0, 0.05, (cout,)))
        pad = k // 2
        nodes.append(helper.make_node("Conv", [x, wname, bname], [name], kernel_shape=[k, k],
                                      strides=[stride, stride], pads=[pad, pad, pad, pad]))
        if relu:
            nodes.append(helper.make_node("Relu", [name], [name + "/relu"]))
            return name + "/relu"
        return name

    # Constant subgraph: scale = a * b, folded by `prepare`.
    const("const_a", np.full((1, 3, 1, 1), 0.5))
    const("const_b", np.full((1, 3, 1, 1), 2.0))
    nodes.append(helper.make_node("Mul", ["const_a", "const_b"], ["const_scale"]))
    nodes.append(helper.make_node("Transpose", [INPUT], ["to_nchw"], perm=[0, 3, 1, 2]))
    nodes.append(helper.make_node("Mul", ["to_nchw", "const_scale"], ["scaled"]))
    x = conv("scaled", 3, 8, 3, 2, "block_1")      # stride 2
    x = conv(x, 8, 16, 3, 2, "block_2")            # stride 4
    x = conv(x, 16, 16, 3, 2, "block_3")           # stride 8
    hm = conv(x, 16, 19, 1, 1, "heatmap", relu=False)
    paf8 = conv(x, 16, 38, 1, 1, "paf8", relu=False)
    # Fixed nearest x4 upsampling as a per-channel identity ConvTranspose (TAO's deployable export).
    kt = np.zeros((38, 1, 4, 4), dtype=np.float32)
    kt[:, 0] = 1.0
    const("upsample/W", kt)
    const("upsample/B", rng.normal(0, 0.01, (38,)))
    nodes.append(helper.make_node("ConvTranspose", [paf8, "upsample/W", "upsample/B"], ["paf2"],
                                  kernel_shape=[4, 4], strides=[4, 4], group=38))
    nodes.append(helper.make_node("Transpose", [hm], [HEATMAP], perm=[0, 2, 3, 1]))
    nodes.append(helper.make_node("Transpose", ["paf2"], [PAF], perm=[0, 2, 3, 1]))
    # A dead branch that `cleanup` removes.
    nodes.append(helper.make_node("Relu", ["scaled"], ["dead_end"]))

    b = _dim(batch)
    graph = helper.make_graph(
        nodes, "tiny_bpnet",
        [helper.make_tensor_value_info(INPUT, TensorProto.FLOAT, [b, h, w, 3])],
        [helper.make_tensor_value_info(HEATMAP, TensorProto.FLOAT, [b, h // 8, w // 8, 19]),
         helper.make_tensor_value_info(PAF, TensorProto.FLOAT, [b, h // 2, w // 2, 38])],
        initializer=inits,
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", opset)], producer_name="edgepose-tests")
    model.ir_version = 8
    onnx.checker.check_model(model)
    return model


def make_tiny_bpnet(path, batch="N", size=(64, 96), seed=0):
    """Write the tiny model to ``path`` and return ``path``."""
    onnx.save(make_tiny_bpnet_model(batch=batch, size=size, seed=seed), str(path))
    return str(path)


def make_images(folder, count=6, size=(120, 160), seed=0):
    """Write ``count`` small random-ish BGR JPEGs (blobs on a gradient) into ``folder``; return the paths."""
    import os

    import cv2

    rng = np.random.default_rng(seed)
    os.makedirs(str(folder), exist_ok=True)
    paths = []
    h, w = size
    for i in range(count):
        img = np.zeros((h, w, 3), np.uint8)
        img[:] = np.linspace(0, 255, w, dtype=np.uint8)[None, :, None]
        for _ in range(4):
            c = (int(rng.integers(0, w)), int(rng.integers(0, h)))
            cv2.circle(img, c, int(rng.integers(5, 30)), tuple(int(v) for v in rng.integers(0, 255, 3)), -1)
        p = os.path.join(str(folder), "img_%03d.jpg" % i)
        cv2.imwrite(p, img)
        paths.append(p)
    return paths
