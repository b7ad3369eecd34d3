"""The runtime config schema: strict keys, error paths, CLI overrides, the shipped example."""
import os

import pytest
import yaml

from edgepose.cli import main
from edgepose.config import Config, example_yaml, load_config, parse_config_text
from edgepose.errors import ConfigError

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def write(tmp_path, data, name="c.yaml"):
    p = tmp_path / name
    p.write_text(data if isinstance(data, str) else yaml.safe_dump(data))
    return str(p)


def test_example_is_the_shipped_file_and_valid():
    with open(os.path.join(ROOT, "systemd", "config.example.yaml"), encoding="utf-8") as f:
        shipped = f.read()
    assert shipped == example_yaml(), "regenerate: edgepose config example > systemd/config.example.yaml"
    cfg = parse_config_text(shipped)
    assert cfg.sources[0].name == "livingroom" and cfg.sources[0].zones[0].name == "sofa"
    assert cfg.http.host == "127.0.0.1"


def test_example_documents_every_section():
    text = example_yaml()
    for key in ("sources:", "model:", "decode:", "analytics:", "sinks:", "http:", "logging:", "service:"):
        assert "\n" + key in text
    assert sum(1 for line in text.splitlines() if line.strip().startswith("#")) > 60  # commented


def test_minimal_config_and_defaults(tmp_path):
    cfg = load_config(write(tmp_path, {"sources": [{"name": "cam", "uri": "/dev/video0"}]}))
    assert isinstance(cfg, Config)
    assert cfg.http.port == 8080 and cfg.http.host == "127.0.0.1"
    assert cfg.decode_overrides() == {}
    assert cfg.model.model is None and cfg.model.engine is None


def test_every_bad_key_reported_with_path_and_value(tmp_path):
    path = write(tmp_path, """
sources:
  - name: cam 1
    uri: /dev/video0
    zones:
      - {name: bed, polygon: [[0, 0], [1, 1]]}
analytics:
  fall:
    long_lie_s: -3
    velocty: 2
http:
  port: 99999
decode:
  peak_threshold: high
""")
    with pytest.raises(ConfigError) as e:
        load_config(path)
    lines = str(e.value).splitlines()
    assert len(lines) == 6
    text = str(e.value)
    assert all(line.startswith(path + ": ") for line in lines)
    assert "sources.0.name: value 'cam 1'" in text
    assert "sources.0.zones.0.polygon" in text and "3 points" in text
    assert "analytics.fall.long_lie_s: value -3" in text
    assert "analytics.fall.velocty: value 2: unknown key" in text
    assert "http.port: value 99999" in text
    assert "decode.peak_threshold: value 'high'" in text


@pytest.mark.parametrize("data, message", [
    ({"sources": []}, "at least 1"),
    ({}, "sources: missing"),
    ({"sources": [{"name": "a", "uri": "x"}, {"name": "a", "uri": "y"}]}, "unique"),
    ({"sources": [{"name": "a", "uri": "x"}], "model": {"engine": "e.engine"}}, "needs profile"),
    ({"sources": [{"name": "a", "uri": "x"}], "model": {"engine": "e", "model": "m", "profile": "p"}}, "not both"),
    ({"sources": [{"name": "a", "uri": "x"}], "analytics": {"zones": [
        {"name": "z", "polygon": [[0, 0], [1, 0], [1, 1]], "sources": ["b"]}]}}, "unknown source"),
    ({"sources": [{"name": "a", "uri": "x"}], "typo": 1}, "typo: value 1: unknown key"),
    ({"sources": [{"name": "a", "uri": "x", "zones": [{"name": "z", "polygon": [[0, 0], [1, 0], [1, 1]]},
                                                      {"name": "z", "polygon": [[0, 0], [1, 0], [1, 1]]}]}]},
     "unique"),
])
def test_invalid_configs(tmp_path, data, message):
    with pytest.raises(ConfigError, match=message):
        load_config(write(tmp_path, data))


def test_overrides_win_over_the_file(tmp_path):
    path = write(tmp_path, {"sources": [{"name": "cam", "uri": "/dev/video0"}], "http": {"port": 9000},
                            "model": {"engine": "x.engine", "profile": "tao-bpnet"}})
    cfg = load_config(path, {"http": {"host": "0.0.0.0"}, "model": {"model": "m.onnx", "engine": None}})
    assert cfg.http.host == "0.0.0.0" and cfg.http.port == 9000
    assert cfg.model.model == "m.onnx" and cfg.model.engine is None and cfg.model.profile == "tao-bpnet"
    cfg = load_config(None, {"sources": [{"name": "q", "uri": "clip.mp4", "options": {"loop": True}}]})
    assert cfg.sources[0].options == {"loop": True}


def test_per_source_zones_compose_with_global_ones(tmp_path):
    tri = [[0, 0], [10, 0], [10, 10]]
    cfg = load_config(write(tmp_path, {
        "sources": [{"name": "a", "uri": "x", "zones": [{"name": "bed", "polygon": tri}]}, {"name": "b", "uri": "y"}],
        "analytics": {"zones": [{"name": "all", "polygon": tri}, {"name": "b-only", "polygon": tri, "sources": ["b"]}]},
    }))
    assert [z.name for z in cfg.analytics_for("a").zones] == ["all", "bed"]
    assert [z.name for z in cfg.analytics_for("b").zones] == ["all", "b-only"]


def test_decode_overrides_follow_the_profile_schema(tmp_path):
    cfg = load_config(write(tmp_path, {"sources": [{"name": "a", "uri": "x"}],
                                       "decode": {"peak_threshold": 0.2, "min_parts": 3}}))
    assert cfg.decode_overrides() == {"peak_threshold": 0.2, "min_parts": 3}


def test_cli_check_and_example(tmp_path, capsys):
    good = write(tmp_path, {"sources": [{"name": "a", "uri": "/dev/video0"}],
                            "model": {"engine": "/nonexistent.engine", "profile": "tao-bpnet"}})
    assert main(["config", "check", good]) == 0
    out = capsys.readouterr().out
    assert "ok" in out and "does not exist here" in out
    bad = write(tmp_path, {"sources": [{"name": "a", "uri": "x", "optoins": {}}]}, "bad.yaml")
    assert main(["config", "check", bad]) == 2
    err = capsys.readouterr().err
    assert "sources.0.optoins" in err and "unknown key" in err
    assert main(["config", "example"]) == 0
    assert capsys.readouterr().out == example_yaml()
    assert main(["config", "check"]) == 2


def test_cli_check_masks_stream_passwords(tmp_path, capsys):
    """`config check` lists the sources without the RTSP password (the daemon's logs mask it too)."""
    good = write(tmp_path, {"sources": [{"name": "door", "uri": "rtsp://admin:s3cret@10.0.0.5/stream1"}],
                            "model": {"engine": "/nonexistent.engine", "profile": "tao-bpnet"}})
    assert main(["config", "check", good]) == 0
    out = capsys.readouterr().out
    assert "rtsp://admin:***@10.0.0.5/stream1" in out and "s3cret" not in out
