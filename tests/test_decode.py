"""PoseDecoder end to end on ground-truth maps rendered from known skeletons (tests/maps.py).

Both output families (TAO: heatmap stride 8 + PAF stride 2 in two tensors; tf-pose: one 57-channel
tensor at stride 8), both layouts (NHWC, NCHW), scenes with several people, crossing limbs, people
cut by the image border and a crowd of 12. A perfect decoder must find exactly the expected people
(each labelled piece of >= min_parts keypoints that the limbs connect), each keypoint within
TOL_PX network-input pixels of the truth, and no keypoint that is not there.
"""
import numpy as np
import pytest

from edgepose.decode import PoseDecoder
from edgepose.errors import ConfigError, InputError
from edgepose.topology import KP

from maps import SCENES, crossing_segments, expected_people, match, profile, render, scene, skeleton

# Clean Gaussian maps: measured worst error 0.05 px; 0.25 px is 1/32 of a heatmap cell at stride 8.
TOL_PX = 0.25
# Heatmaps with added noise (sigma 0.03): measured over many scenes p99 < 1 px, worst 1.9 px.
NOISY_TOL_PX = 2.5

FAMILIES = [("tao-bpnet", "NHWC"), ("tao-bpnet", "NCHW"), ("tf-pose", "NHWC"), ("tf-pose", "NCHW")]


def check_recovery(found, people, prof, size, tol):
    expected = expected_people(people, size, prof)
    assert len(found) == len(expected), "found %d people, expected %d" % (len(found), len(expected))
    for i, parts, person, err in match(found, people, expected):
        assert person is not None, "person %d not found" % i
        assert np.array_equal(person.present, parts), "person %d: parts %s, expected %s" % (
            i, np.flatnonzero(person.present).tolist(), np.flatnonzero(parts).tolist())
        assert np.all(err[parts] <= tol), "person %d: keypoint errors %s px" % (i, np.round(err[parts], 2))
        assert np.all(person.keypoints[parts, 2] > 0)
        assert np.all(np.isnan(person.keypoints[~parts, :2])) and np.all(person.keypoints[~parts, 2] == 0)
        assert person.score > prof.decode.min_person_score
    return expected


@pytest.mark.parametrize("name,layout", FAMILIES)
@pytest.mark.parametrize("scene_name", SCENES)
def test_recovers_every_person_and_keypoint(name, layout, scene_name):
    prof = profile(name, layout)
    size = tuple(prof.input.size)
    people = scene(scene_name, size)
    outs = render(prof, people, size)
    found = PoseDecoder(prof).decode(outs)
    expected = check_recovery(found, people, prof, size, TOL_PX)
    assert len(expected) == {"several": 5, "crossing": 2, "truncated": 4, "crowd": 12}[scene_name]
    assert [p.score for p in found] == sorted((p.score for p in found), reverse=True)


def test_crossing_scene_really_crosses():
    (a0, a1), (b0, b1) = crossing_segments(scene("crossing", (288, 384)))

    def side(p, q, r):
        return np.sign((q[0] - p[0]) * (r[1] - p[1]) - (q[1] - p[1]) * (r[0] - p[0]))

    assert side(a0, a1, b0) != side(a0, a1, b1) and side(b0, b1, a0) != side(b0, b1, a1)


def test_truncated_scene_has_parts_outside():
    people = scene("truncated", (288, 384))
    from maps import labelled

    vis = labelled(people, (288, 384))
    assert (~vis).sum(axis=1).min() >= 3  # every person loses at least 3 keypoints to the border


@pytest.mark.parametrize("name", ["tao-bpnet", "tf-pose"])
def test_noisy_maps(name):
    prof = profile(name)
    size = tuple(prof.input.size)
    rng = np.random.default_rng(1)
    people = scene("several", size)
    outs = render(prof, people, size, sigma=8.0)
    heat = outs[prof.outputs.heatmap.name]
    heat[..., :18] += rng.normal(0, 0.03, heat[..., :18].shape).astype(np.float32)
    check_recovery(PoseDecoder(prof).decode(outs), people, prof, size, NOISY_TOL_PX)


@pytest.mark.parametrize("name,layout", FAMILIES)
def test_empty_maps_give_no_people(name, layout):
    prof = profile(name, layout)
    outs = render(prof, np.zeros((0, 18, 3)), prof.input.size)
    assert PoseDecoder(prof).decode(outs) == []
    # weak blobs below the peak threshold are not keypoints
    weak = render(prof, scene("several", prof.input.size), prof.input.size)
    hname = prof.outputs.heatmap.name
    ch = slice(0, 18)
    if layout == "NHWC":
        weak[hname][..., ch] *= 0.5 * prof.decode.peak_threshold
    else:
        weak[hname][:, ch] *= 0.5 * prof.decode.peak_threshold
    assert PoseDecoder(prof).decode(weak) == []


def test_batch_dimension_optional_and_decode_batch():
    prof = profile("tao-bpnet")
    size = tuple(prof.input.size)
    one = render(prof, scene("several", size), size)
    two = render(prof, scene("crossing", size), size)
    dec = PoseDecoder(prof)
    unbatched = {k: v[0] for k, v in one.items()}
    assert len(dec.decode(unbatched)) == len(dec.decode(one)) == 5
    batch = {k: np.concatenate([one[k], two[k]]) for k in one}
    res = dec.decode_batch(batch)
    assert [len(r) for r in res] == [5, 2]
    with pytest.raises(InputError, match="batch of 2"):
        dec.decode(batch)
    batch[prof.outputs.paf.name] = batch[prof.outputs.paf.name][:1]
    with pytest.raises(InputError, match="holds 2 image"):
        dec.decode_batch(batch)


def test_half_precision_outputs_accepted():
    prof = profile("tf-pose")
    size = tuple(prof.input.size)
    outs = {k: v.astype(np.float16) for k, v in render(prof, scene("several", size), size).items()}
    assert len(PoseDecoder(prof).decode(outs)) == 5


def test_profile_by_name_and_overrides():
    size = (288, 384)
    people = scene("several", size)
    outs = render("tao-bpnet", people, size)
    assert len(PoseDecoder("tao-bpnet").decode(outs)) == 5
    # a person with 6 keypoints is dropped by min_parts=7
    small = people.copy()
    keep = [KP[n] for n in ("neck", "r_shoulder", "r_elbow", "r_wrist", "l_shoulder", "l_elbow")]
    small[0, [k for k in range(18) if k not in keep], 2] = 0
    outs = render("tao-bpnet", small, size)
    assert len(PoseDecoder("tao-bpnet").decode(outs)) == 5
    assert len(PoseDecoder("tao-bpnet", min_parts=7).decode(outs)) == 4
    assert PoseDecoder("tao-bpnet", min_person_score=5.0).decode(outs) == []
    with pytest.raises(ConfigError, match="unknown decode parameter"):
        PoseDecoder("tao-bpnet", peak_treshold=0.2)
    with pytest.raises(ConfigError, match="paf_count_ratio"):
        PoseDecoder("tao-bpnet", paf_count_ratio=2.0)


def test_seedless_limbs_never_start_a_person():
    # Only eyes and ears labelled: the eye-ear limbs are seedless in the TAO profile (17, 18), and
    # nothing else connects them, so no person, even with min_parts=2; with no seedless limbs, two.
    prof = profile("tao-bpnet")
    size = tuple(prof.input.size)
    p = skeleton(190, 150, 260)
    p[[k for k in range(18) if k not in (KP["r_eye"], KP["r_ear"], KP["l_eye"], KP["l_ear"])], 2] = 0
    outs = render(prof, p[None], size)
    assert PoseDecoder(prof, min_parts=2).decode(outs) == []
    found = PoseDecoder(prof, min_parts=2, seedless_limbs=[]).decode(outs)
    assert sorted(tuple(np.flatnonzero(f.present)) for f in found) == [
        (KP["r_eye"], KP["r_ear"]), (KP["l_eye"], KP["l_ear"])]


def test_limb_direction_matters():
    # The PAF of every limb pointing the wrong way (negated) connects nothing.
    prof = profile("tf-pose")
    size = tuple(prof.input.size)
    outs = render(prof, scene("several", size), size)
    t = outs[prof.outputs.paf.name]
    t[..., 19:] *= -1
    assert PoseDecoder(prof).decode(outs) == []


# -- bad inputs ---------------------------------------------------------------------------------

def _tao():
    prof = profile("tao-bpnet")
    return prof, render(prof, scene("several", prof.input.size), prof.input.size)


@pytest.mark.parametrize("which", ["heatmap", "paf"])
@pytest.mark.parametrize("value", [np.nan, np.inf, -np.inf])
def test_nan_inf_raise(which, value):
    prof, outs = _tao()
    name = getattr(prof.outputs, which).name
    outs[name][0, 3, 5, 2] = value
    with pytest.raises(InputError, match="NaN, Inf"):
        PoseDecoder(prof).decode(outs)


def test_missing_output_raises():
    prof, outs = _tao()
    del outs[prof.outputs.paf.name]
    with pytest.raises(InputError, match="paf output 'conv2d_transpose_1/BiasAdd:0' missing"):
        PoseDecoder(prof).decode(outs)
    with pytest.raises(InputError, match="dict"):
        PoseDecoder(prof).decode([np.zeros((1, 36, 48, 19))])


@pytest.mark.parametrize("change,message", [
    (lambda h, p: (h[..., :10], p), "heatmap output .* has 10 channels"),
    (lambda h, p: (h, p[..., :30]), "paf output .* has 30 channels"),
    (lambda h, p: (h, p[:, :100]), "covers"),
    (lambda h, p: (h[0, 0], p), "expected \\(H, W, C\\)"),
    (lambda h, p: (h.astype(object), p), "dtype"),
])
def test_wrong_shapes_raise(change, message):
    prof, outs = _tao()
    hn, pn = prof.outputs.heatmap.name, prof.outputs.paf.name
    outs[hn], outs[pn] = change(outs[hn], outs[pn])
    with pytest.raises(InputError, match=message):
        PoseDecoder(prof).decode(outs)


def test_error_is_one_line():
    prof, outs = _tao()
    outs[prof.outputs.paf.name] = outs[prof.outputs.paf.name][:, :50]
    with pytest.raises(InputError) as e:
        PoseDecoder(prof).decode(outs)
    assert "\n" not in str(e.value)
