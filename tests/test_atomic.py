"""edgepose.atomic: a file appears whole or not at all."""
import json
import os

import pytest

from edgepose.atomic import atomic_open, write_atomic, write_json_atomic


def test_write_replaces_whole_and_leaves_no_temp(tmp_path):
    path = tmp_path / "sub" / "a.json"
    write_json_atomic(str(path), {"b": 1, "a": [1, 2]})
    assert json.loads(path.read_text()) == {"a": [1, 2], "b": 1} and path.read_text().endswith("\n")
    write_atomic(str(path), b"\x00\x01")
    assert path.read_bytes() == b"\x00\x01"
    assert os.listdir(str(tmp_path / "sub")) == ["a.json"]


def test_an_error_keeps_the_old_file_and_removes_the_temp(tmp_path):
    path = tmp_path / "out.txt"
    path.write_text("old")
    with pytest.raises(RuntimeError):
        with atomic_open(str(path)) as f:
            f.write("half of the new one")
            raise RuntimeError("disk full")
    assert path.read_text() == "old" and os.listdir(str(tmp_path)) == ["out.txt"]
