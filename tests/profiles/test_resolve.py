"""The one resolver: (model, engine, profile, size) -> (path, Profile)."""
import json

import pytest

import edgepose.models as models
from edgepose.errors import ModelError, ProfileError, UsageError
from edgepose.profiles import resolve_model
from tiny_bpnet import INPUT, make_tiny_bpnet, make_tiny_bpnet_model


def test_no_model_means_the_bundled_one_with_its_profile():
    path, prof = resolve_model()
    assert path == models.bundled_model()[0] and path.endswith("edgepose-demo.onnx")
    assert prof.name == "edgepose-demo"
    path, prof = resolve_model(profile="tao-bpnet", size=(64, 96))
    assert prof.name == "tao-bpnet" and tuple(prof.input.size) == (64, 96)


def test_no_bundled_model_is_a_usage_error(monkeypatch):
    monkeypatch.setattr(models, "bundled_model", lambda: (None, None))
    with pytest.raises(UsageError, match="--model"):
        resolve_model()


def test_model_and_engine_together_refused(tmp_path):
    with pytest.raises(UsageError, match="not both"):
        resolve_model("m.onnx", "m.engine")


@pytest.mark.parametrize("size, want", [((240, 320), "edgepose-demo"), ((288, 384), "tao-bpnet")])
def test_onnx_profile_prefers_the_one_made_for_its_input_size(tmp_path, size, want):
    """Both BPNet profiles match the I/O names; the one whose input size is the model's own wins."""
    model = tmp_path / "m.onnx"
    make_tiny_bpnet(str(model), size=size)
    path, prof = resolve_model(str(model))
    assert path == str(model) and prof.name == want


def test_onnx_profile_from_its_io(tmp_path, tfpose_model):
    assert resolve_model(tfpose_model)[1].name == "tf-pose"
    with pytest.raises(ModelError, match="nope.onnx"):
        resolve_model(str(tmp_path / "nope.onnx"))


def test_onnx_no_builtin_profile_matches(tmp_path):
    import onnx

    m = make_tiny_bpnet_model()
    m.graph.input[0].name = "other"
    for node in m.graph.node:
        node.input[:] = ["other" if i == INPUT else i for i in node.input]
    path = tmp_path / "renamed.onnx"
    onnx.save(m, str(path))
    with pytest.raises(ProfileError, match="no built-in profile matches"):
        resolve_model(str(path))


def test_engine_profile_from_its_sidecar(tmp_path):
    engine = tmp_path / "m.engine"
    with pytest.raises(ModelError, match="engine file not found"):
        resolve_model(engine=str(engine))
    engine.write_bytes(b"plan")
    with pytest.raises(ProfileError, match="needs --profile"):
        resolve_model(engine=str(engine))
    (tmp_path / "m.engine.json").write_text(json.dumps({"format": "edgepose-engine/1", "profile": "tao-bpnet"}))
    path, prof = resolve_model(engine=str(engine))
    assert path == str(engine) and prof.name == "tao-bpnet"
    # an engine passed as --model is told by its suffix
    assert resolve_model(str(engine))[1].name == "tao-bpnet"
    assert resolve_model(str(engine), profile="tf-pose")[1].name == "tf-pose"
