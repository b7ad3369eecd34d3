import numpy as np

from edgepose import topology as t


def test_tao_order():
    assert t.NUM_KEYPOINTS == 18
    assert t.KEYPOINTS[1] == "neck" and t.KEYPOINTS[17] == "l_ear"
    assert len(t.LIMBS) == 19
    # limb k of TAO BodyPoseNet, spot checks from reference-facts §1
    assert t.LIMBS[0] == ("neck", "r_hip")
    assert t.LIMBS[9] == ("r_shoulder", "r_ear")
    assert t.LIMBS[14] == ("neck", "nose")
    assert t.LIMBS[18] == ("l_eye", "l_ear")


def test_coco17_roundtrip_and_neck():
    coco = np.arange(17 * 3, dtype=float).reshape(17, 3)
    bp = t.from_coco17(coco)
    assert bp.shape == (18, 3)
    np.testing.assert_array_equal(t.to_coco17(bp), coco)
    rs, ls = bp[t.KP["r_shoulder"]], bp[t.KP["l_shoulder"]]
    np.testing.assert_allclose(bp[t.KP["neck"], :2], (rs[:2] + ls[:2]) / 2)
    assert bp[t.KP["neck"], 2] == min(rs[2], ls[2])


def test_flip_index_is_an_involution_swapping_sides():
    fi = t.FLIP_INDEX
    np.testing.assert_array_equal(fi[fi], np.arange(18))
    for i, name in enumerate(t.KEYPOINTS):
        other = t.KEYPOINTS[fi[i]]
        if name.startswith("r_"):
            assert other == "l_" + name[2:]
        elif not name.startswith("l_"):
            assert other == name


def test_sigmas_and_colours():
    assert t.OKS_SIGMAS[t.KP["neck"]] == t.OKS_SIGMAS[t.KP["r_shoulder"]]
    assert len(t.KEYPOINT_COLORS) == 18
    assert all(0 <= a < 18 and 0 <= b < 18 for a, b in t.SKELETON)
