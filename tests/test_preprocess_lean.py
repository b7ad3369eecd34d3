"""The lean preprocessing path (letterboxed NHWC straight into a caller's buffer) gives exactly the numbers
of the general path (resize_image + to_tensor), for every source shape, and refuses a wrong buffer."""
import numpy as np
import pytest

from edgepose.errors import InputError
from edgepose.preprocess import preprocess, resize_image, to_tensor
from edgepose.profiles import load_profile


@pytest.mark.parametrize("shape", [(1080, 1920, 3), (480, 640, 3), (300, 200, 3), (288, 384, 3), (7, 5, 3)])
def test_lean_path_matches_the_general_one(shape):
    prof = load_profile("tao-bpnet")
    img = np.random.default_rng(sum(shape)).integers(0, 256, shape, dtype=np.uint8)
    out = np.full((1, 288, 384, 3), np.nan, np.float32)          # a pinned buffer would hold stale data
    got, tf = preprocess(img, prof, out=out)
    resized, tf2 = resize_image(img, prof)
    assert got is out and tf == tf2
    np.testing.assert_array_equal(got, to_tensor(resized, prof))


def test_lean_path_refuses_a_buffer_of_the_wrong_shape():
    prof = load_profile("tao-bpnet")
    with pytest.raises(InputError, match="output buffer has shape"):
        preprocess(np.zeros((10, 10, 3), np.uint8), prof, out=np.empty((1, 288, 380, 3), np.float32))
