import os
import sys

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
# tests/ on the path, also for tests/gpu/, so helper modules (tiny_bpnet, maps, fakes) import by name.
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
SHARED = os.path.normpath(os.path.join(ROOT, "..", "shared"))


def shared_path(*parts):
    """Path under ../shared, or skip the test cleanly when it is absent."""
    p = os.path.join(SHARED, *parts)
    if not os.path.exists(p):
        pytest.skip("shared test data not found: %s" % p)
    return p


@pytest.fixture
def tfpose_model():
    return shared_path("models", "tfpose", "tfpose_mobilenet_v2_small.onnx")


def pytest_collection_modifyitems(config, items):
    """Tests marked gpu skip unless a GPU with TensorRT and pycuda is really there."""
    have_gpu = False
    if os.environ.get("EDGEPOSE_GPU_TESTS") == "1":
        have_gpu = True
    if not have_gpu:
        skip = pytest.mark.skip(reason="needs an NVIDIA GPU with TensorRT + pycuda (set EDGEPOSE_GPU_TESTS=1 on a device)")
        for item in items:
            if "gpu" in item.keywords:
                item.add_marker(skip)
