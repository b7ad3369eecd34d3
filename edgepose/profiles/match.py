"""Read an ONNX model's I/O and say which built-in profile matches it, or why none does."""
import os

from ..errors import ModelError
from . import builtin_profiles, load_profile


def read_io(path):
    """``(inputs, outputs)`` of an ONNX file: lists of ``(name, shape)`` (dims as int or str)."""
    return _io(_load(path))


def _load(path):
    import onnx

    if not os.path.isfile(path):
        raise ModelError("%s: file not found" % path)
    if os.path.getsize(path) == 0:
        raise ModelError("%s: the file is empty (0 bytes), not an ONNX model: copy or export it again" % path)
    try:
        model = onnx.load(path, load_external_data=False)
    except Exception as e:
        raise ModelError("%s: not a readable ONNX model (%s)" % (path, str(e).splitlines()[0] if str(e) else e))
    if not model.graph.node and not model.graph.input and not model.graph.output:
        raise ModelError("%s: not an ONNX model (no graph: no inputs, outputs or nodes)" % path)
    return model


# TensorProto.DataType -> numpy dtype name (the ones a pose model's input can have)
ONNX_DTYPES = {1: "float32", 2: "uint8", 3: "int8", 6: "int32", 7: "int64", 9: "bool", 10: "float16", 11: "float64"}


def input_dtypes(model):
    """``{input name: numpy dtype name}`` of an ``onnx.ModelProto``'s graph inputs (``"?"`` when unknown)."""
    init = {i.name for i in model.graph.initializer}
    return {i.name: ONNX_DTYPES.get(i.type.tensor_type.elem_type, "?") for i in model.graph.input
            if i.name not in init}


def _io(model):
    init = {i.name for i in model.graph.initializer}

    def shape(vi):
        return tuple(d.dim_param or (d.dim_value if d.HasField("dim_value") else "?")
                     for d in vi.type.tensor_type.shape.dim)

    ins = [(i.name, shape(i)) for i in model.graph.input if i.name not in init]
    outs = [(o.name, shape(o)) for o in model.graph.output]
    return ins, outs


def match_profile(inputs, outputs, profile, strides=True, dtypes=None):
    """List of reasons ``profile`` does not fit this I/O (empty: it fits). ``strides``: also compare the
    outputs' sizes with the input's over the profile's strides, where the shapes say them. ``dtypes``:
    ``{input name: dtype name}`` (``input_dtypes``), to compare with the profile's ``input.dtype``."""
    why = []
    in_names = {n: s for n, s in inputs}
    out_names = {n: s for n, s in outputs}
    if profile.input.name not in in_names:
        why.append("input %r not found (model has %s)" % (profile.input.name, sorted(in_names)))
    elif dtypes and dtypes.get(profile.input.name, "?") not in ("?", profile.input.dtype):
        why.append(_dtype_mismatch(profile, dtypes[profile.input.name]))
    else:
        s = in_names[profile.input.name]
        ch = s[3] if profile.input.layout == "NHWC" and len(s) == 4 else (s[1] if len(s) == 4 else None)
        if len(s) != 4 or (isinstance(ch, int) and ch != 3):
            why.append("input %r has shape %s, expected %s with 3 channels" % (profile.input.name, list(s), profile.input.layout))
    need = profile.outputs.heatmap.channel_offset + 18
    in_hw = _hw(in_names.get(profile.input.name), profile.input.layout)
    for what, spec in (("heatmap", profile.outputs.heatmap), ("paf", profile.outputs.paf)):
        if spec.name not in out_names:
            why.append("%s output %r not found (model has %s)" % (what, spec.name, sorted(out_names)))
            continue
        s = out_names[spec.name]
        ch = s[3] if profile.outputs.layout == "NHWC" and len(s) == 4 else (s[1] if len(s) == 4 else None)
        if what == "heatmap" and isinstance(ch, int) and ch < need:
            why.append("heatmap output %r has %d channels, needs >= %d" % (spec.name, ch, need))
        if what == "paf" and isinstance(ch, int) and ch <= int(profile.limb_channels.max()):
            why.append("paf output %r has %d channels, the profile uses channel %d"
                       % (spec.name, ch, int(profile.limb_channels.max())))
        out_hw = _hw(s, profile.outputs.layout)
        if strides and in_hw and out_hw and (out_hw[0] * spec.stride, out_hw[1] * spec.stride) != in_hw:
            why.append("%s output %r is %dx%d for a %dx%d input: stride %s, the profile says %d"
                       % (what, spec.name, out_hw[0], out_hw[1], in_hw[0], in_hw[1],
                          "%g" % (in_hw[0] / out_hw[0]) if out_hw[0] else "?", spec.stride))
    return why


def _dtype_mismatch(profile, got):
    if profile.input.dtype == "uint8":
        return ("input %r is %s, profile %s takes uint8 frames: prepare the model with it first (`edgepose prepare "
                "MODEL.onnx --profile %s --out MODEL.u8.onnx`)" % (profile.input.name, got, profile.name, profile.name))
    return ("input %r is %s, profile %s takes %s: use the profile the model was prepared with (a -u8 one for "
            "uint8 frames)" % (profile.input.name, got, profile.name, profile.input.dtype))


def _hw(shape, layout):
    """(H, W) of a 4-d shape when both are known ints, else None."""
    if not shape or len(shape) != 4:
        return None
    hw = shape[1:3] if layout == "NHWC" else shape[2:4]
    return tuple(hw) if all(isinstance(d, int) and d > 0 for d in hw) else None


def guess_profiles(path):
    """``(inputs, outputs, {profile name: [reasons it does not fit]})`` for every built-in profile."""
    model = _load(path)
    ins, outs = _io(model)
    dtypes = input_dtypes(model)
    return ins, outs, {name: match_profile(ins, outs, load_profile(name), dtypes=dtypes) for name in builtin_profiles()}


def size_fits(inputs, profile):
    """True when the model's input (from ``read_io``) has ``profile``'s H and W, or dynamic ones."""
    shapes = {n: s for n, s in inputs}
    s = shapes.get(profile.input.name)
    if not s or len(s) != 4:
        return False
    hw = s[1:3] if profile.input.layout == "NHWC" else s[2:4]
    return all(not isinstance(d, int) or d == want for d, want in zip(hw, profile.input.size))
