"""edgepose.deps: the one seam of the optional libraries."""
import sys

import pytest

from edgepose import deps
from edgepose.errors import DependencyError


def test_load_returns_the_module():
    assert deps.load("onnxruntime", "test").__name__ == "onnxruntime"
    assert deps.load("onnxruntime", "test", "onnxruntime.quantization").__name__ == "onnxruntime.quantization"
    assert deps.optional("scipy").__name__ == "scipy.optimize"


@pytest.mark.parametrize("name", sorted(deps.LIBRARIES))
def test_missing_library_is_a_dependency_error_with_its_hint(monkeypatch, name):
    lib = deps.LIBRARIES[name]
    monkeypatch.setitem(sys.modules, lib.module, None)  # import -> ImportError, as when it is not installed
    with pytest.raises(DependencyError) as e:
        deps.load(name, "the frobnicator")
    msg = str(e.value)
    assert "\n" not in msg and msg.startswith("the frobnicator needs %s" % lib.what)
    assert lib.module in msg and lib.hint in msg
    assert deps.optional(name) is None


def test_a_library_that_fails_with_another_error_is_reported_too(monkeypatch):
    """pycuda raises ImportError/OSError without a driver; cv2 can fail on a missing libGL."""
    import importlib

    real = importlib.import_module

    def failing(name, *a):
        if name == "cv2":
            raise OSError("libGL.so.1: cannot open shared object file")
        return real(name, *a)

    monkeypatch.setattr(importlib, "import_module", failing)
    with pytest.raises(DependencyError, match="libGL.so.1"):
        deps.load("cv2", "drawing")


def test_submodule_must_belong_to_the_library():
    with pytest.raises(ValueError):
        deps.load("cv2", "test", "numpy")
