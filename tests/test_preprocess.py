import numpy as np
import pytest

from edgepose.errors import InputError
from edgepose.preprocess import compute_transform, preprocess
from edgepose.profiles import load_profile


def test_letterbox_geometry_and_values():
    p = load_profile("tao-bpnet")  # 288x384, RGB, x/256 - 0.5, letterbox
    img = np.zeros((480, 480, 3), np.uint8)
    img[..., 2] = 255  # pure red in BGR
    x, tf = preprocess(img, p)
    assert x.shape == (1, 288, 384, 3) and x.dtype == np.float32
    assert tf.pad_y == 0 and tf.pad_x == 48 and tf.scale_x == pytest.approx(0.6)
    # padding columns hold the pad value (0 -> -0.5); the image area is red in RGB channel 0
    assert np.allclose(x[0, :, :48], -0.5)
    assert np.allclose(x[0, 10, 100], [255 / 256 - 0.5, -0.5, -0.5])


def test_stretch_bgr_and_nchw():
    p = load_profile("tf-pose")
    data = p.model_dump()
    data["input"]["layout"] = "NCHW"
    from edgepose.profiles import Profile

    p2 = Profile.model_validate(data)
    img = np.full((100, 200, 3), (10, 20, 30), np.uint8)
    x, tf = preprocess(img, p2)
    assert x.shape == (1, 3, 368, 432)
    assert np.allclose(x[0, :, 5, 5], [10, 20, 30])  # BGR kept, 0..255
    assert tf.scale_x == pytest.approx(432 / 200) and tf.scale_y == pytest.approx(368 / 100)


@pytest.mark.parametrize("resize", ["letterbox", "stretch"])
@pytest.mark.parametrize("src", [(480, 640), (720, 405), (100, 100)])
def test_inverse_mapping_roundtrip(resize, src):
    tf = compute_transform(src[0], src[1], 288, 384, resize)
    pts = np.array([[0, 0, 1], [src[1] - 1, src[0] - 1, 0.5], [np.nan, np.nan, 0]], np.float32)
    back = tf.to_source(tf.to_network(pts))
    np.testing.assert_allclose(back[:2], pts[:2], atol=1e-3)
    assert np.isnan(back[2, 0])


def test_inverse_mapping_lands_on_the_same_pixel():
    """A bright pixel in the source is found at the mapped network position (catches half-pixel errors)."""
    p = load_profile("tao-bpnet")
    img = np.zeros((576, 768, 3), np.uint8)  # exactly 2x the network size: no padding
    img[300:302, 500:502] = 255  # a 2x2 block centred at (500.5, 300.5)
    x, tf = preprocess(img, p)
    net = x[0, :, :, 0]
    yx = np.unravel_index(np.argmax(net), net.shape)
    src = tf.to_source(np.array([[yx[1], yx[0]]], np.float32))[0]
    assert abs(src[0] - 500.5) <= 0.5 and abs(src[1] - 300.5) <= 0.5


def test_bad_image_is_a_clear_error():
    p = load_profile("tao-bpnet")
    with pytest.raises(InputError, match=r"\(H, W, 3\)"):
        preprocess(np.zeros((10, 10), np.uint8), p)
    with pytest.raises(InputError):
        preprocess(None, p)
