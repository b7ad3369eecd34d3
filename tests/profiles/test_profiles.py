import numpy as np
import pytest

from edgepose.errors import ConfigError, ProfileError
from edgepose.profiles import builtin_profiles, load_profile
from edgepose.topology import LIMBS


@pytest.mark.parametrize("name", builtin_profiles())
def test_every_builtin_loads(name):
    p = load_profile(name)
    assert p.name == name
    assert p.limb_parts.shape == (len(p.limbs), 2)
    # every PAF channel is used exactly once
    ch = p.limb_channels.ravel()
    assert len(set(ch.tolist())) == len(ch)


def test_tao_profile_matches_reference_contract():
    p = load_profile("tao-bpnet")
    assert p.input.name == "input_1:0" and p.input.layout == "NHWC" and p.input.color == "RGB"
    assert p.input.scale == pytest.approx(1 / 256) and p.input.offset == -0.5
    assert tuple(p.input.size) == (288, 384)
    assert p.outputs.heatmap.name == "heatmap_out/BiasAdd:0" and p.outputs.heatmap.stride == 8
    assert p.outputs.paf.name == "conv2d_transpose_1/BiasAdd:0" and p.outputs.paf.stride == 2
    # limb k uses channels 2k, 2k+1 and the TAO limb order
    np.testing.assert_array_equal(p.limb_channels, np.arange(38).reshape(19, 2))
    assert [tuple(l[:2]) for l in p.limbs] == list(LIMBS)


def test_tfpose_profile_matches_shared_readme_table():
    p = load_profile("tf-pose")
    table = {("neck", "r_shoulder"): (31, 32), ("l_elbow", "l_wrist"): (43, 44), ("neck", "r_hip"): (19, 20),
             ("r_eye", "r_ear"): (53, 54), ("l_shoulder", "l_ear"): (45, 46)}
    got = {(a, b): (cx, cy) for a, b, cx, cy in p.limbs}
    for k, v in table.items():
        assert got[k] == v
    assert p.decode.seedless_limbs == [17, 18]
    assert [tuple(p.limbs[k][:2]) for k in p.decode.seedless_limbs] == [("r_shoulder", "r_ear"), ("l_shoulder", "l_ear")]


def _write(tmp_path, text):
    f = tmp_path / "p.yaml"
    f.write_text(text)
    return str(f)


def test_bad_key_reported_with_its_path(tmp_path):
    import yaml

    data = load_profile("tao-bpnet").model_dump(mode="json")
    data["limbs"] = [list(l) for l in data["limbs"]]
    data["outputs"]["heatmap"]["strid"] = 8
    path = _write(tmp_path, yaml.safe_dump(data))
    with pytest.raises(ProfileError) as e:
        load_profile(path)
    assert "outputs.heatmap.strid" in str(e.value) and "unknown key" in str(e.value) and path in str(e.value)


def test_bad_value_and_unknown_keypoint(tmp_path):
    import yaml

    data = load_profile("tf-pose").model_dump(mode="json")
    data["limbs"] = [list(l) for l in data["limbs"]]
    data["input"]["layout"] = "HWCN"
    data["limbs"][0][0] = "necc"
    path = _write(tmp_path, yaml.safe_dump(data))
    with pytest.raises(ConfigError) as e:
        load_profile(path)
    msg = str(e.value)
    assert "input.layout" in msg and "'HWCN'" in msg
    assert "necc" in msg


def test_size_must_fit_strides():
    p = load_profile("tao-bpnet")
    assert tuple(p.with_size((224, 320)).input.size) == (224, 320)
    with pytest.raises(ConfigError, match="stride"):
        p.with_size((225, 320))


def test_unknown_profile_lists_builtins():
    with pytest.raises(ProfileError) as e:
        load_profile("openpose-25")
    assert "tao-bpnet" in str(e.value) and "tf-pose" in str(e.value)


def test_invalid_yaml_file(tmp_path):
    path = _write(tmp_path, "name: [unclosed\n")
    with pytest.raises(ConfigError, match="not valid YAML"):
        load_profile(path)
