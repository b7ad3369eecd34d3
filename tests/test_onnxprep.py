"""edgepose prepare: batch/size, folding, the profile check, ONNX Runtime verification, float16."""
import os

import numpy as np
import onnx
import pytest

from edgepose.errors import ProfileError, UsageError
from edgepose.onnxprep import BatchRange, graph_io, parse_batch, prepare
from tiny_bpnet import HEATMAP, INPUT, PAF, make_tiny_bpnet, make_tiny_bpnet_model


@pytest.fixture(scope="module")
def tiny(tmp_path_factory):
    return make_tiny_bpnet(tmp_path_factory.mktemp("m") / "tiny.onnx", size=(64, 96))


def test_parse_batch():
    assert parse_batch("4") == BatchRange(4, 4, 4) and not parse_batch("4").dynamic
    b = parse_batch("dynamic:1,2,8")
    assert b == BatchRange(1, 2, 8) and b.dynamic and str(b) == "dynamic:1,2,8"
    for bad in ("0", "dynamic:2,1,4", "dynamic:1,2", "x"):
        with pytest.raises(UsageError, match="--batch"):
            parse_batch(bad)


def test_fixed_batch_new_size_folds_and_verifies(tiny, tmp_path):
    out = str(tmp_path / "p.onnx")
    rep = prepare(tiny, out, "tao-bpnet", size=(128, 160), batch="2")
    ins, outs = graph_io(onnx.load(out))
    assert ins == [(INPUT, (2, 128, 160, 3))]
    assert dict(outs) == {HEATMAP: (2, 16, 20, 19), PAF: (2, 64, 80, 38)}
    assert rep["nodes_after"] < rep["nodes_before"]  # constant Mul folded, dead Relu removed
    ops = [n.op_type for n in onnx.load(out).graph.node]
    assert ops.count("Mul") == 1 and ops.count("Relu") == 3
    assert set(rep["max_abs_diff"]) == {HEATMAP, PAF} and max(rep["max_abs_diff"].values()) < 1e-5
    assert not [f for f in os.listdir(tmp_path) if f.endswith(".tmp")]


def test_dynamic_batch_runs_at_several_batches(tiny, tmp_path):
    import onnxruntime as ort

    out = str(tmp_path / "d.onnx")
    prepare(tiny, out, "tao-bpnet", batch="dynamic:1,2,4")
    ins, _ = graph_io(onnx.load(out))
    assert ins[0][1][0] == "batch" and ins[0][1][1:] == (288, 384, 3)
    s = ort.InferenceSession(out, providers=["CPUExecutionProvider"])
    for n in (1, 3):
        hm, paf = s.run([HEATMAP, PAF], {INPUT: np.zeros((n, 288, 384, 3), np.float32)})
        assert hm.shape == (n, 36, 48, 19) and paf.shape == (n, 144, 192, 38)


def test_fp16_model_keeps_float32_io(tiny, tmp_path):
    out = str(tmp_path / "h.onnx")
    rep = prepare(tiny, out, "tao-bpnet", size=(64, 96), fp16=True)
    m = onnx.load(out)
    assert m.graph.input[0].type.tensor_type.elem_type == onnx.TensorProto.FLOAT
    assert all(o.type.tensor_type.elem_type == onnx.TensorProto.FLOAT for o in m.graph.output)
    assert all(t.data_type == onnx.TensorProto.FLOAT16 for t in m.graph.initializer if t.dims)
    if rep["max_abs_diff"] is not None:  # ONNX Runtime CPU ran the float16 model
        assert max(rep["max_abs_diff"].values()) < 0.05


def test_size_not_multiple_of_stride_is_refused(tiny, tmp_path):
    with pytest.raises(ProfileError, match="multiple of the heatmap stride 8"):
        prepare(tiny, str(tmp_path / "x.onnx"), "tao-bpnet", size=(100, 96))


def test_profile_mismatch_says_what(tiny, tmp_path):
    with pytest.raises(ProfileError, match="input 'image' not found"):
        prepare(tiny, str(tmp_path / "x.onnx"), "tf-pose")


def test_wrong_output_stride_is_named(tmp_path):
    m = make_tiny_bpnet_model(size=(64, 96))
    # Make the "PAF" come out at stride 8 instead of 2: drop the upsampling node.
    g = m.graph
    up = [n for n in g.node if n.op_type == "ConvTranspose"][0]
    for n in g.node:
        if n.output and n.output[0] == PAF:
            n.input[0] = up.input[0]
    g.node.remove(up)
    del g.output[1].type.tensor_type.shape.dim[:]
    path = str(tmp_path / "bad.onnx")
    onnx.save(m, path)
    with pytest.raises(ProfileError, match=r"paf output .* dim 1 is 8, expected 32 .*stride 2"):
        prepare(path, str(tmp_path / "x.onnx"), "tao-bpnet", size=(64, 96))


def test_prepare_cli(tiny, tmp_path, capsys):
    from edgepose.cli import main

    out = str(tmp_path / "c.onnx")
    assert main(["prepare", tiny, "--profile", "tao-bpnet", "--size", "64x96", "--batch", "1", "--out", out]) == 0
    text = capsys.readouterr().out
    assert "max abs diff vs original" in text and HEATMAP in text
    assert main(["prepare", tiny, "--profile", "tao-bpnet", "--batch", "dynamic:3,1,2", "--out", out]) == 2


def test_real_tfpose_model_prepares_dynamic_and_fp16(tfpose_model, tmp_path):
    rep = prepare(tfpose_model, str(tmp_path / "t.onnx"), "tf-pose", size=(224, 320), batch="dynamic:1,2,4")
    assert dict(rep["outputs"])["Openpose/concat_stage7"] == ("batch", 28, 40, 57)
    assert max(rep["max_abs_diff"].values()) < 1e-4
    rep = prepare(tfpose_model, str(tmp_path / "h.onnx"), "tf-pose", size=(224, 320), fp16=True)
    assert rep["max_abs_diff"] is not None and max(rep["max_abs_diff"].values()) < 0.1


def test_paf8_profile_cuts_the_identity_upsampling(tiny, tmp_path):
    """tao-bpnet-paf8: the x4 nearest ConvTranspose is cut, the PAF leaves at stride 8 under the same name,
    equal to the original's PAF at every 4th cell; the original graph still prepares with tao-bpnet."""
    import onnxruntime as ort

    from edgepose.profiles.match import guess_profiles

    out8 = str(tmp_path / "p8.onnx")
    rep = prepare(tiny, out8, "tao-bpnet-paf8", size=(64, 96), batch="1")
    assert dict(rep["outputs"]) == {HEATMAP: (1, 8, 12, 19), PAF: (1, 8, 12, 38)}
    assert "ConvTranspose" not in [n.op_type for n in onnx.load(out8).graph.node]
    assert max(rep["max_abs_diff"].values()) < 1e-5           # against the original, subsampled x4
    out2 = str(tmp_path / "p2.onnx")
    prepare(tiny, out2, "tao-bpnet", size=(64, 96), batch="1")
    x = np.random.default_rng(0).random((1, 64, 96, 3), dtype=np.float32) - 0.5
    a = ort.InferenceSession(out2, providers=["CPUExecutionProvider"]).run([PAF], {INPUT: x})[0]
    b = ort.InferenceSession(out8, providers=["CPUExecutionProvider"]).run([PAF], {INPUT: x})[0]
    np.testing.assert_allclose(np.repeat(np.repeat(b, 4, axis=1), 4, axis=2), a, atol=1e-6)
    # the resolver tells the two apart by the PAF's stride
    fits = {name: why for name, why in guess_profiles(out8)[2].items() if name.startswith("tao-bpnet")}
    assert not fits["tao-bpnet-paf8"] and any("stride 8, the profile says 2" in w for w in fits["tao-bpnet"])
    fits2 = guess_profiles(out2)[2]
    assert not fits2["tao-bpnet"] and fits2["tao-bpnet-paf8"]


def test_paf8_refuses_a_convtranspose_that_is_not_an_identity(tmp_path):
    from onnx import numpy_helper

    model = make_tiny_bpnet_model(size=(64, 96))
    for init in model.graph.initializer:
        if init.name == "upsample/W":
            w = numpy_helper.to_array(init).copy()
            w[0, 0, 0, 0] = 0.5
            init.CopyFrom(numpy_helper.from_array(w, init.name))
    src = str(tmp_path / "learned.onnx")
    onnx.save(model, src)
    with pytest.raises(ProfileError, match="stride 8"):
        prepare(src, str(tmp_path / "o.onnx"), "tao-bpnet-paf8", batch="1")


# ---------------------------------------------------------------- the uint8 front (profile input.dtype: uint8)

def _consumers(model, name):
    return [n for n in model.graph.node if name in n.input]


def test_uint8_profile_puts_the_normalisation_in_the_graph(tiny, tmp_path):
    """tao-bpnet-u8: uint8 NHWC BGR input read only by a Cast (TensorRT takes uint8 nowhere else), then
    BGR->RGB, x/256 - 0.5; ONNX Runtime gives the float model's numbers exactly for the same frame."""
    import onnxruntime as ort

    from edgepose.onnxfront import reference_input
    from edgepose.profiles import load_profile

    out = str(tmp_path / "u8.onnx")
    rep = prepare(tiny, out, "tao-bpnet-u8", size=(64, 96), batch="dynamic:1,2,4")
    m = onnx.load(out)
    assert m.graph.input[0].name == INPUT and m.graph.input[0].type.tensor_type.elem_type == onnx.TensorProto.UINT8
    cast = _consumers(m, INPUT)
    assert [n.op_type for n in cast] == ["Cast"] and cast[0].attribute[0].i == onnx.TensorProto.FLOAT
    ops = [n.op_type for n in m.graph.node]
    assert {"Gather", "Mul", "Add"} <= set(ops)
    assert set(rep["max_abs_diff"]) == {HEATMAP, PAF} and max(rep["max_abs_diff"].values()) < 1e-6   # vs the float graph
    assert dict(rep["outputs"])[PAF][1:] == (8, 12, 38)             # the PAF cut as in tao-bpnet-paf8
    # The same check by hand: a BGR frame in, against the float graph fed numpy's normalisation.
    frame = np.random.default_rng(3).integers(0, 256, (2, 64, 96, 3), dtype=np.uint8)
    prepare(tiny, str(tmp_path / "f.onnx"), "tao-bpnet-paf8", size=(64, 96), batch="dynamic:1,2,4")
    s_u8 = ort.InferenceSession(out, providers=["CPUExecutionProvider"])
    s_f = ort.InferenceSession(str(tmp_path / "f.onnx"), providers=["CPUExecutionProvider"])
    x = reference_input(frame, load_profile("tao-bpnet-u8"))
    assert np.array_equal(x[..., 0], frame[..., 2] / np.float32(256) - np.float32(0.5))   # R from the frame's last
    for a, b in zip(s_u8.run([HEATMAP, PAF], {INPUT: frame}), s_f.run([HEATMAP, PAF], {INPUT: x})):
        assert np.array_equal(a, b)


def test_uint8_model_prepared_again_keeps_its_front(tiny, tmp_path):
    once = str(tmp_path / "once.onnx")
    prepare(tiny, once, "tao-bpnet-u8", size=(64, 96), batch="dynamic:1,2,4")
    twice = str(tmp_path / "twice.onnx")
    rep = prepare(once, twice, "tao-bpnet-u8", size=(64, 96), batch="2")
    m = onnx.load(twice)
    assert [n.op_type for n in m.graph.node].count("Cast") == 1 and rep["inputs"] == [(INPUT, (2, 64, 96, 3))]
    assert max(rep["max_abs_diff"].values()) == 0.0       # the original is uint8 too: the same frame to both


def test_uint8_front_with_fp16_and_a_bgr_model(tiny, tfpose_model, tmp_path):
    """--fp16 casts the uint8 frame to float16 (TensorRT: uint8 -> float16 is a valid Cast); a BGR, scale 1
    model (tf-pose) gets the Cast alone."""
    out = str(tmp_path / "h.onnx")
    prepare(tiny, out, "tao-bpnet-u8", size=(64, 96), fp16=True, check=False)
    m = onnx.load(out)
    assert m.graph.input[0].type.tensor_type.elem_type == onnx.TensorProto.UINT8
    assert _consumers(m, INPUT)[0].attribute[0].i == onnx.TensorProto.FLOAT16
    prof = tmp_path / "tfpose-u8.yaml"
    prof.write_text("base: tf-pose\nname: tf-pose-u8\ninput:\n  dtype: uint8\n")
    rep = prepare(tfpose_model, str(tmp_path / "t.onnx"), str(prof), batch="1")
    m = onnx.load(str(tmp_path / "t.onnx"))
    front = _consumers(m, "image")
    assert [n.op_type for n in front] == ["Cast"]
    assert not {"Gather"} & {n.op_type for n in m.graph.node if front[0].output[0] in n.input}
    assert max(rep["max_abs_diff"].values()) < 1e-3


def test_uint8_and_float_profiles_tell_the_models_apart(tiny, tmp_path):
    from edgepose.profiles import resolve_model
    from edgepose.profiles.match import guess_profiles

    u8, f8 = str(tmp_path / "u8.onnx"), str(tmp_path / "f8.onnx")
    prepare(tiny, u8, "tao-bpnet-u8", batch="1")
    prepare(tiny, f8, "tao-bpnet-paf8", batch="1")
    assert resolve_model(model=u8)[1].name == "tao-bpnet-u8"
    assert resolve_model(model=f8)[1].name == "tao-bpnet-paf8"
    why = guess_profiles(u8)[2]["tao-bpnet-paf8"]
    assert why == ["input 'input_1:0' is uint8, profile tao-bpnet-paf8 takes float32: use the profile the model was "
                   "prepared with (a -u8 one for uint8 frames)"]
    assert "prepare the model with it first" in guess_profiles(f8)[2]["tao-bpnet-u8"][0]
    with pytest.raises(ProfileError, match="is uint8, profile tao-bpnet-paf8 takes float32"):
        prepare(u8, str(tmp_path / "x.onnx"), "tao-bpnet-paf8", batch="1")


def test_uint8_profile_needs_nhwc(tmp_path):
    from edgepose.errors import ProfileError as PE
    from edgepose.profiles import load_profile

    bad = tmp_path / "nchw-u8.yaml"
    bad.write_text("base: tao-bpnet\nname: x\ninput:\n  layout: NCHW\n  dtype: uint8\n")
    with pytest.raises(PE, match="input.dtype uint8 takes the frame as OpenCV gives it"):
        load_profile(str(bad))
