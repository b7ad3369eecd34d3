"""Prepare an ONNX pose model for TensorRT: batch and input size, folding, profile check, verification.

``prepare(src, out, profile, size=None, batch=None, fp16=False)`` (onnx-graphsurgeon):

1. sets the input's batch dimension (a fixed N, or a symbolic one for a dynamic range) and H, W (which
   must be multiples of the output strides: ``Profile.with_size`` checks that); for a profile whose PAF
   stride is the heatmap's (``tao-bpnet-paf8``) it cuts the graph's identity nearest-neighbour
   ConvTranspose that upsamples the PAF (TAO's deployable export: x4, 263 KB -> 4.2 MB per frame at
   288x384), so the PAF leaves the engine at stride 8 under the same name;
2. folds constants, removes dead nodes, sorts topologically, re-infers shapes;
3. checks the graph's inputs/outputs against the profile (names, channels, output sizes = input / stride)
   and says exactly what does not match;
   a profile with ``input.dtype: uint8`` (``tao-bpnet-u8``) also gets the uint8 front (``onnxfront``): the
   model then takes the letterboxed frame as uint8 NHWC BGR and normalises it on the GPU;
4. optionally converts the model to float16 (inputs/outputs stay float32 through Cast nodes) for
   TensorRT 11's strongly typed builds, where precision comes from the ONNX types;
5. verifies the prepared model against the original on ONNX Runtime and reports the max abs difference
   (for a uint8 front: the same random frame, raw to the prepared model, normalised by numpy for the original).
"""
import collections
import logging
import os

import numpy as np

from . import deps
from .atomic import atomic_open
from .errors import ConfigError, ModelError, ProfileError, UsageError

log = logging.getLogger(__name__)

BATCH_DIM = "batch"

BatchRange = collections.namedtuple("BatchRange", "min opt max")
BatchRange.dynamic = property(lambda self: not (self.min == self.opt == self.max))
BatchRange.__str__ = lambda self: (
    "dynamic:%d,%d,%d" % tuple(self) if self.dynamic else str(self.min))


def parse_batch(text):
    """``"4"`` -> BatchRange(4, 4, 4); ``"dynamic:1,2,8"`` -> BatchRange(1, 2, 8); None -> None."""
    if text is None or isinstance(text, BatchRange):
        return text
    s = str(text).strip().lower()
    try:
        if s.startswith("dynamic:"):
            lo, opt, hi = (int(v) for v in s[len("dynamic:"):].split(","))
        else:
            lo = opt = hi = int(s)
        if not 1 <= lo <= opt <= hi:
            raise ValueError
    except ValueError:
        raise UsageError("--batch %r: expected N (>= 1) or dynamic:MIN,OPT,MAX with 1 <= MIN <= OPT <= MAX, "
                         "e.g. --batch 1 or --batch dynamic:1,2,4" % (text,))
    return BatchRange(lo, opt, hi)


def sha256_file(path, chunk=1 << 20):
    """Hex sha256 of a file."""
    import hashlib

    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(chunk), b""):
            h.update(block)
    return h.hexdigest()


def load_model(path):
    import onnx

    if not os.path.isfile(path):
        raise ModelError("%s: file not found" % path)
    try:
        return onnx.load(path)
    except Exception as e:
        raise ModelError("%s: not a readable ONNX model (%s)" % (path, e))


def graph_io(model):
    """``(inputs, outputs)``: lists of ``(name, shape)`` of an ``onnx.ModelProto`` (dims int or str)."""
    init = {i.name for i in model.graph.initializer}

    def shape(vi):
        return tuple(d.dim_param or (d.dim_value if d.HasField("dim_value") else "?")
                     for d in vi.type.tensor_type.shape.dim)

    return ([(i.name, shape(i)) for i in model.graph.input if i.name not in init],
            [(o.name, shape(o)) for o in model.graph.output])


def _nhwc(layout, n, h, w, c):
    return [n, h, w, c] if layout == "NHWC" else [n, c, h, w]


def _channels(shape, layout):
    if len(shape) != 4:
        return None
    c = shape[3] if layout == "NHWC" else shape[1]
    return c if isinstance(c, int) and c > 0 else None


def check_io(model, profile, size, batch, where="model"):
    """Reasons the model's I/O does not fit ``profile`` at ``size`` and ``batch`` (empty list: fits)."""
    from .profiles.match import input_dtypes, match_profile   # pydantic: not needed by the engine build's imports

    ins, outs = graph_io(model)
    why = match_profile(ins, outs, profile, strides=False, dtypes=input_dtypes(model))  # sizes: dim by dim below
    if why:
        return why
    h, w = size
    want_b = BATCH_DIM if batch is not None and batch.dynamic else (batch.min if batch else None)
    got_in = dict(ins)[profile.input.name]
    want_in = _nhwc(profile.input.layout, want_b, h, w, 3)
    for i, (g, e) in enumerate(zip(got_in, want_in)):
        if e is not None and g != e:
            why.append("%s: input %r dim %d is %r, expected %r (shape %s)"
                       % (where, profile.input.name, i, g, e, list(got_in)))
    out = dict(outs)
    lay = profile.outputs.layout
    for what, spec in (("heatmap", profile.outputs.heatmap), ("paf", profile.outputs.paf)):
        got = out[spec.name]
        want = _nhwc(lay, want_b, h // spec.stride, w // spec.stride, _channels(got, lay))
        for i, (g, e) in enumerate(zip(got, want)):
            if e is not None and g != e:
                why.append("%s: %s output %r dim %d is %r, expected %r for input %dx%d at stride %d (shape %s)"
                           % (where, what, spec.name, i, g, e, h, w, spec.stride, list(got)))
    return why


def _set_io_shapes(graph, profile, size, batch):
    """Set the input's and outputs' shapes; clear intermediate shapes so that they are re-inferred."""
    h, w = size
    b = BATCH_DIM if batch.dynamic else batch.min
    inputs = {t.name: t for t in graph.inputs}
    if profile.input.name not in inputs:
        raise ProfileError("profile %s: input %r not found in the model (model has %s)"
                           % (profile.name, profile.input.name, sorted(inputs)))
    inputs[profile.input.name].shape = _nhwc(profile.input.layout, b, h, w, 3)
    # Output shapes are left to shape inference, then compared with what the profile expects.
    io = set(inputs)
    for t in graph.outputs:
        t.shape = None
    for t in graph.tensors().values():
        if t.name not in io and not hasattr(t, "values"):
            t.shape = None


def _nearest_upsampling(node):
    """``(factor, scale (C,), bias (C,) or None)`` when a ConvTranspose is a nearest-neighbour upsampling with a
    constant kernel per channel (TAO's: all ones), i.e. ``upsample(x) * scale + bias`` per channel; else None."""
    import onnx_graphsurgeon as gs

    if node.op != "ConvTranspose" or len(node.inputs) < 2 or not isinstance(node.inputs[1], gs.Constant):
        return None
    w = node.inputs[1].values
    if w.ndim != 4 or w.shape[1] != 1 or node.attrs.get("group", 1) != w.shape[0]:
        return None
    k = [int(v) for v in node.attrs.get("kernel_shape", w.shape[2:])]
    if len(set(k)) != 1 or [int(v) for v in node.attrs.get("strides", [1, 1])] != k:
        return None
    if any(node.attrs.get("pads", [0] * 4)) or any(node.attrs.get("output_padding", [0, 0])) or \
            any(d != 1 for d in node.attrs.get("dilations", [1, 1])) or "output_shape" in node.attrs:
        return None
    scale = w[:, 0, 0, 0]
    if not np.all(w == scale[:, None, None, None]):
        return None
    bias = None
    if len(node.inputs) > 2 and node.inputs[2].name:
        if not isinstance(node.inputs[2], gs.Constant):
            return None
        bias = node.inputs[2].values
    return k[0], scale, bias


def cut_paf_upsampling(graph, paf_name):
    """Remove the nearest-neighbour ConvTranspose that upsamples output ``paf_name`` (through any Transpose
    after it), in place, keeping its per-channel scale and bias (Mul/Add at the low resolution: the kept
    cells are exactly the original's). Returns the factor removed (1: nothing to cut)."""
    import onnx_graphsurgeon as gs

    out = next((t for t in graph.outputs if t.name == paf_name), None)
    node = out.inputs[0] if out is not None and out.inputs else None
    while node is not None and node.op == "Transpose" and node.inputs[0].inputs:
        node = node.inputs[0].inputs[0]
    found = _nearest_upsampling(node) if node is not None else None
    if not found:
        return 1
    factor, scale, bias = found
    x, y = node.inputs[0], node.outputs[0]
    for what, values, skip in (("Mul", scale, np.all(scale == 1)), ("Add", bias, bias is None or not np.any(bias))):
        if skip:
            continue
        c = gs.Constant(y.name + "/" + what.lower(), values.astype(np.float32).reshape(1, -1, 1, 1))
        z = gs.Variable(y.name + "/" + what.lower() + "_out", dtype=np.float32)
        graph.nodes.append(gs.Node(what, name=y.name + "/" + what, inputs=[x, c], outputs=[z]))
        x = z
    if y in graph.outputs:       # an NCHW model whose output is the upsampling itself: keep the name
        graph.nodes.append(gs.Node("Identity", name=y.name + "/stride", inputs=[x], outputs=[y]))
    for consumer in list(y.outputs):
        if consumer is not node:
            for i, t in enumerate(list(consumer.inputs)):
                if t is y:
                    consumer.inputs[i] = x
    node.inputs.clear()
    node.outputs.clear()
    log.info("cut the x%d nearest-neighbour ConvTranspose of output %s: the PAF now leaves at the heatmap's stride",
             factor, paf_name)
    return factor


def to_float16(graph):
    """Make a float32 graph float16 inside, with float32 inputs/outputs through Cast nodes (in place)."""
    import onnx
    import onnx_graphsurgeon as gs

    f32, f16 = np.dtype(np.float32), np.dtype(np.float16)
    # Inputs that ONNX requires to be float32 whatever the data type (Resize roi/scales, Upsample scales).
    keep = set()
    for node in graph.nodes:
        if node.op == "Resize":
            keep.update(t.name for t in node.inputs[1:3])
        elif node.op == "Upsample":
            keep.update(t.name for t in node.inputs[1:2])
    for t in graph.tensors().values():
        if t.name in keep:
            continue
        if isinstance(t, gs.Constant) and t.values.dtype == f32:
            t.values = t.values.astype(np.float16)
        elif isinstance(t, gs.Variable) and t.dtype is not None and np.dtype(t.dtype) == f32:
            t.dtype = f16
    for node in graph.nodes:
        if node.op == "Cast" and node.attrs.get("to") == onnx.TensorProto.FLOAT:
            node.attrs["to"] = onnx.TensorProto.FLOAT16
    new_inputs = []
    for t in graph.inputs:
        if t.dtype is not None and np.dtype(t.dtype) == f16:
            outer = gs.Variable(t.name, dtype=f32, shape=t.shape)
            t.name = t.name + "/fp16"
            graph.nodes.append(gs.Node("Cast", name=t.name + "/cast", attrs={"to": onnx.TensorProto.FLOAT16},
                                       inputs=[outer], outputs=[t]))
            new_inputs.append(outer)
        else:
            new_inputs.append(t)
    graph.inputs = new_inputs
    new_outputs = []
    for t in graph.outputs:
        if t.dtype is not None and np.dtype(t.dtype) == f16:
            outer = gs.Variable(t.name, dtype=f32, shape=t.shape)
            t.name = t.name + "/fp16"
            graph.nodes.append(gs.Node("Cast", name=t.name + "/cast", attrs={"to": onnx.TensorProto.FLOAT},
                                       inputs=[t], outputs=[outer]))
            new_outputs.append(outer)
        else:
            new_outputs.append(t)
    graph.outputs = new_outputs
    return graph


def prepare_model(model, profile, size=None, batch=None, fp16=False):
    """Prepared ``onnx.ModelProto`` (see the module doc). Raises ``ProfileError`` naming each mismatch."""
    import onnx
    import onnx_graphsurgeon as gs

    size = tuple(size or profile.input.size)
    try:
        prof = profile.with_size(size)  # refuses H, W that are not multiples of the strides
    except ConfigError as e:
        raise ProfileError("--size %dx%d: %s" % (size[0], size[1], str(e).split(": ")[-1]))
    batch = parse_batch(batch) or BatchRange(1, 1, 1)
    graph = gs.import_onnx(model)
    if prof.outputs.paf.stride == prof.outputs.heatmap.stride and prof.outputs.paf.name != prof.outputs.heatmap.name:
        cut_paf_upsampling(graph, prof.outputs.paf.name)
    if prof.input.dtype == "uint8":
        from .onnxfront import add_uint8_front

        add_uint8_front(graph, prof)
    _set_io_shapes(graph, prof, size, batch)
    log.info("folding constants (%d nodes)", len(graph.nodes))
    graph.fold_constants().cleanup(remove_unused_graph_inputs=False).toposort()
    if fp16:
        to_float16(graph)
        graph.cleanup().toposort()
    out = gs.export_onnx(graph)
    out.ir_version = model.ir_version
    try:
        out = onnx.shape_inference.infer_shapes(out, strict_mode=False)
    except Exception as e:  # shapes are a help for the check, not required by TensorRT
        log.warning("shape inference failed (%s); the I/O check uses the declared shapes", e)
    why = check_io(out, prof, size, batch, where="prepared model")
    if why:
        raise ProfileError("profile %s does not match %s: %s" % (profile.name, model.graph.name or "the model",
                                                                 "; ".join(why)))
    log.info("prepared: %d nodes (was %d)", len(out.graph.node), len(model.graph.node))
    return out


def _relaxed(model):
    """A copy of ``model`` whose input/output dims are all symbolic (so ONNX Runtime accepts any size)."""
    import onnx

    m = onnx.ModelProto()
    m.CopyFrom(model)
    for vi in list(m.graph.input) + list(m.graph.output):
        for i, d in enumerate(vi.type.tensor_type.shape.dim):
            d.dim_param = "%s_%d" % (vi.name.replace(":", "_").replace("/", "_"), i)
    del m.graph.value_info[:]
    return m


def _session(model):
    ort = deps.load("onnxruntime", "checking the prepared model")

    so = ort.SessionOptions()
    so.log_severity_level = 3
    return ort.InferenceSession(model.SerializeToString(), so, providers=["CPUExecutionProvider"])


def verify(original, prepared, profile, size, batch, seed=0):
    """Run both models on the same random input; ``{output name: max abs diff}``.

    Raises ``ModelError`` when the prepared model does not run (or does not match the original's outputs);
    returns ``None`` when the original itself cannot run at this size on ONNX Runtime.
    """
    from .onnxfront import reference_input
    from .profiles.match import input_dtypes

    batch = parse_batch(batch) or BatchRange(1, 1, 1)
    h, w = size
    rng = np.random.default_rng(seed)
    shape = _nhwc(profile.input.layout, batch.opt, h, w, 3)
    name = profile.input.name
    if profile.input.dtype == "uint8":
        frame = rng.integers(0, 256, shape, dtype=np.uint8)      # a BGR frame, as OpenCV gives it
        feed = {name: frame}
        ref_feed = {name: frame if input_dtypes(original).get(name) == "uint8" else reference_input(frame, profile)}
    else:
        x = (rng.random(shape, dtype=np.float32) * 255.0 * profile.input.scale + profile.input.offset).astype(np.float32)
        feed = ref_feed = {name: x}
    try:
        got = _session(prepared).run(None, feed)
    except Exception as e:
        raise ModelError("prepared model does not run on ONNX Runtime: %s" % (str(e).splitlines()[0],))
    names = [o.name for o in prepared.graph.output]
    ref = None
    for candidate in (original, _relaxed(original)):
        try:
            ref = _session(candidate).run(names, ref_feed)
            break
        except Exception as e:
            log.debug("original model does not run as is: %s", e)
    if ref is None:
        return None
    diffs = {}
    for n, a, b in zip(names, ref, got):
        a = _at_stride_of(a, b, profile.outputs.layout)
        if a.shape != b.shape:
            raise ModelError("prepared model output %r has shape %s, the original %s" % (n, a.shape, b.shape))
        diffs[n] = float(np.max(np.abs(a.astype(np.float64) - b.astype(np.float64)))) if a.size else 0.0
    return diffs


def _at_stride_of(ref, got, layout):
    """``ref`` subsampled to ``got``'s spatial size when that is an integer fraction of it (a cut upsampling:
    nearest-neighbour, so the kept cells are exactly the ones the prepared model computes)."""
    if ref.ndim != 4 or got.ndim != 4 or ref.shape == got.shape:
        return ref
    hw = (1, 2) if layout == "NHWC" else (2, 3)
    f = [ref.shape[i] // got.shape[i] if got.shape[i] and ref.shape[i] % got.shape[i] == 0 else 0 for i in hw]
    if f[0] < 2 or f[0] != f[1]:
        return ref
    return ref[:, ::f[0], ::f[0], :] if layout == "NHWC" else ref[:, :, ::f[0], ::f[0]]


def prepare(src, out, profile, size=None, batch=None, fp16=False, check=True):
    """Prepare ``src`` into ``out`` (written atomically); returns a report dict (sizes, diffs, node counts)."""
    import onnx

    from .profiles import load_profile

    profile = load_profile(profile)
    size = tuple(size or profile.input.size)
    batch = parse_batch(batch) or BatchRange(1, 1, 1)
    model = load_model(src)
    prepared = prepare_model(model, profile, size=size, batch=batch, fp16=fp16)
    diffs = None
    if check:
        log.info("verifying the prepared model against the original on ONNX Runtime")
        try:
            diffs = verify(model, prepared, profile, size, batch)
        except ModelError:
            if not fp16:
                raise
            log.warning("ONNX Runtime (CPU) cannot run this float16 model; verification skipped")
            diffs = None
    with atomic_open(out, "wb") as f:
        onnx.save(prepared, f)
    return {"out": out, "size": size, "batch": str(batch), "fp16": bool(fp16), "uint8_input": profile.input.dtype == "uint8",
            "nodes_before": len(model.graph.node), "nodes_after": len(prepared.graph.node),
            "inputs": graph_io(prepared)[0], "outputs": graph_io(prepared)[1], "max_abs_diff": diffs}
