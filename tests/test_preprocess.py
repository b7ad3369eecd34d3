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


# ---------------------------------------------------------------- uint8 profiles: resize + letterbox only

@pytest.mark.parametrize("src", [(1080, 1920), (1920, 1080), (500, 500), (288, 384), (77, 301)])
@pytest.mark.parametrize("base", ["tao-bpnet-paf8", "tf-pose"])
def test_uint8_path_is_the_float_path_before_normalising(src, base):
    """The uint8 frame (what a -u8 engine takes) normalised as its graph does gives the float path's numbers
    exactly, for letterbox (padded top/bottom or left/right) and stretch, RGB and BGR models."""
    from edgepose.onnxfront import reference_input
    from edgepose.preprocess import resize_image
    from edgepose.profiles import Profile

    pf = load_profile(base)
    data = pf.model_dump()
    data["input"]["dtype"] = "uint8"
    pu = Profile.model_validate(data)
    img = np.random.default_rng(sum(src)).integers(0, 256, src + (3,), dtype=np.uint8)
    f, tf = preprocess(img, pf)
    u, tu = preprocess(img, pu)
    assert u.dtype == np.uint8 and u.shape == (1,) + pf.input.size + (3,) and tu == tf
    assert np.array_equal(u[0], resize_image(img, pu)[0])          # BGR, as OpenCV gives it
    assert np.array_equal(reference_input(u, pu), f)


def test_uint8_path_writes_into_the_buffer_in_place():
    p = load_profile("tao-bpnet-u8")
    out = np.full((1, 288, 384, 3), 7, np.uint8)
    img = np.full((1080, 1920, 3), (10, 20, 30), np.uint8)
    x, tf = preprocess(img, p, out=out)
    assert x is out and tf.pad_y == 36
    assert (out[0, :36] == 0).all() and (out[0, 252:] == 0).all()       # pad_value, no stale 7s
    assert (out[0, 36:252] == (10, 20, 30)).all()


def test_buffer_of_the_other_dtype_is_one_clear_error():
    img = np.zeros((100, 100, 3), np.uint8)
    with pytest.raises(InputError, match="the input buffer is uint8, profile tao-bpnet-paf8 writes float32"):
        preprocess(img, load_profile("tao-bpnet-paf8"), out=np.zeros((1, 288, 384, 3), np.uint8))
    with pytest.raises(InputError, match="the input buffer is float32, profile tao-bpnet-u8 writes uint8"):
        preprocess(img, load_profile("tao-bpnet-u8"), out=np.zeros((1, 288, 384, 3), np.float32))
