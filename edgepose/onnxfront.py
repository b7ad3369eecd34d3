"""The uint8 front of a pose model: the normalisation moved from the host into the graph.

A profile with ``input.dtype: uint8`` (``tao-bpnet-u8``, ``edgepose-demo-u8``) says the engine takes the
letterboxed frame as uint8 NHWC BGR, exactly as OpenCV produces it. ``add_uint8_front(graph, profile)``
(onnx-graphsurgeon, called by ``edgepose prepare``) makes a float model take that: a new uint8 input
under the model's input name, then

    Cast(float32) -> Gather(channels 2, 1, 0) when the model wants RGB -> Mul(scale) -> Add(offset)

into the tensor the model's first layers read, so the numbers they see are the ones the host's float path
(``preprocess`` with a float32 profile) writes: ``pixel * scale + offset`` in the model's colour order.
The Cast comes first on purpose: TensorRT takes uint8 only as a network input or output, never as an
intermediate tensor (its ONNX parser refuses a uint8 Transpose/Gather), and converts it with a Cast
(IIdentityLayer on 8.5/8.6, ICastLayer since 10) to float32 or float16 only.

``reference_input(image, profile)`` is the float input the original model gets for the same uint8 frame,
computed with numpy alone: what ``onnxprep.verify`` compares the two graphs with on ONNX Runtime.
"""
import logging

import numpy as np

from .errors import ProfileError

log = logging.getLogger(__name__)

FLOAT_SUFFIX = "/normalised"


def add_uint8_front(graph, profile):
    """Give ``graph`` (onnx-graphsurgeon, in place) a uint8 NHWC BGR input that it normalises itself (see the
    module doc). Returns False when the input is uint8 already (a model prepared before: left as it is)."""
    import onnx
    import onnx_graphsurgeon as gs

    spec = profile.input
    old = next((t for t in graph.inputs if t.name == spec.name), None)
    if old is None:
        raise ProfileError("profile %s: input %r not found in the model (model has %s)"
                           % (profile.name, spec.name, sorted(t.name for t in graph.inputs)))
    dtype = np.dtype(old.dtype) if old.dtype is not None else np.dtype(np.float32)
    if dtype == np.uint8:
        return False
    if dtype != np.float32:
        raise ProfileError("profile %s: input %r is %s; the uint8 front goes in front of a float32 input"
                           % (profile.name, spec.name, dtype.name))
    if spec.layout != "NHWC":
        raise ProfileError("profile %s: a uint8 input takes the frame as OpenCV gives it (NHWC), the model's "
                           "input is %s" % (profile.name, spec.layout))
    frame = gs.Variable(spec.name, dtype=np.uint8, shape=old.shape)
    old.name = spec.name + FLOAT_SUFFIX
    x = gs.Variable(spec.name + "/float", dtype=np.float32)
    nodes = [gs.Node("Cast", name=spec.name + "/cast", attrs={"to": onnx.TensorProto.FLOAT}, inputs=[frame],
                     outputs=[x])]
    steps = []
    if spec.color == "RGB":            # the frame is BGR: reverse the channel axis
        steps.append(("Gather", gs.Constant(spec.name + "/bgr2rgb", np.array([2, 1, 0], np.int64)), {"axis": 3}))
    if spec.scale != 1.0:
        steps.append(("Mul", gs.Constant(spec.name + "/scale", np.array(spec.scale, np.float32)), {}))
    if spec.offset != 0.0:
        steps.append(("Add", gs.Constant(spec.name + "/offset", np.array(spec.offset, np.float32)), {}))
    for i, (op, const, attrs) in enumerate(steps):
        y = old if i == len(steps) - 1 else gs.Variable("%s/%s" % (spec.name, op.lower()), dtype=np.float32)
        nodes.append(gs.Node(op, name="%s/%s" % (spec.name, op.lower()), attrs=attrs, inputs=[x, const],
                             outputs=[y]))
        x = y
    if not steps:                      # BGR, scale 1, offset 0 (tf-pose): the Cast alone
        nodes[0].outputs = [old]
    graph.nodes.extend(nodes)
    graph.inputs = [frame if t is old else t for t in graph.inputs]
    log.info("input %s now takes uint8 NHWC BGR frames: %s in the graph", spec.name,
             " -> ".join(n.op for n in nodes))
    return True


def reference_input(image, profile):
    """float32 input of the float model for the uint8 NHWC BGR ``image`` (numpy only): colour order, then
    ``pixel * scale + offset``, as the host's float path computes it."""
    spec = profile.input
    x = image[..., ::-1] if spec.color == "RGB" else image
    return x.astype(np.float32) * np.float32(spec.scale) + np.float32(spec.offset)
