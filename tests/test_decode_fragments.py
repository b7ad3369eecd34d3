"""People without a neck: fragments joined when they fit one body (edgepose.decode.fragments).

Ground-truth maps (edgepose.synth.targets) of stick figures and of synthetic scenes; keypoints outside
the image are not labelled, as in the synthetic annotations, so a person cut at the top or the side of
the frame has no neck and leaves only fragments to the limb assembly.
"""
import numpy as np
import pytest

from edgepose.decode import PoseDecoder
from edgepose.decode.fragments import REACH
from edgepose.synth.figures import skeleton
from edgepose.synth.targets import labelled
from edgepose.topology import KP, NUM_KEYPOINTS

from maps import match, profile, render

FAMILIES = [("tao-bpnet", "NHWC"), ("tao-bpnet", "NCHW"), ("tf-pose", "NHWC"), ("tf-pose", "NCHW")]
TOL_PX = 0.25


def expect(found, people, size, n=None):
    """Each labelled person found once, with all its labelled keypoints, none of anybody else's."""
    vis = labelled(people, size)
    want = [(i, vis[i]) for i in range(len(people)) if vis[i].sum() >= 4]
    assert len(found) == (len(want) if n is None else n), [np.flatnonzero(p.present).tolist() for p in found]
    for i, parts, person, err in match(found, people, want):
        assert person is not None, "person %d not found" % i
        assert np.array_equal(person.present, parts), (i, np.flatnonzero(person.present), np.flatnonzero(parts))
        assert np.all(err[parts] <= TOL_PX), (i, np.round(err[parts], 2))


def cut_at_top(w, h, cx, height, pose="stand"):
    """A person whose head, neck and shoulders are above the image (hips about a third down)."""
    return skeleton(cx, 0.27 * height, height, pose)


def test_reach_is_a_metric_of_body_proportions():
    assert np.allclose(REACH, REACH.T) and np.all(np.diag(REACH) == 0)
    # triangle inequality (shortest paths) and a few anatomical distances
    assert np.all(REACH[:, :, None] <= REACH[:, None, :] + REACH[None, :, :].transpose(0, 2, 1) + 1e-9)
    assert REACH[KP["r_hip"], KP["l_hip"]] == pytest.approx(0.18)
    assert REACH[KP["r_hip"], KP["r_ankle"]] == pytest.approx(0.51)
    assert REACH[KP["nose"], KP["l_ankle"]] < 1.1  # a body is about one height from nose to ankle


@pytest.mark.parametrize("name,layout", FAMILIES)
def test_person_cut_at_the_top_is_one_person(name, layout):
    prof = profile(name, layout)
    size = tuple(prof.input.size)
    people = cut_at_top(size[1], size[0], 0.5 * size[1], 0.9 * size[0], "arms_out")[None]
    vis = labelled(people, size)
    assert not vis[0, KP["neck"]] and not vis[0, KP["r_shoulder"]] and vis[0, KP["r_hip"]]
    outs = render(prof, people, size)
    expect(PoseDecoder(prof).decode(outs), people, size)
    # without joining: legs and arms are separate fragments, each too small to be a person
    assert PoseDecoder(prof, join_slack=0).decode(outs) == []


@pytest.mark.parametrize("name", ["tao-bpnet", "tf-pose"])
def test_lying_person_cut_at_the_side(name):
    prof = profile(name)
    size = tuple(prof.input.size)
    # lying, head to the left, beyond the left border: arms and legs in the image
    p = skeleton(0.22 * size[1], 0.55 * size[0], 0.8 * size[1], "arms_out", angle=-90.0)
    assert p[KP["neck"], 0] < 0 and p[KP["r_hip"], 0] > 0
    expect(PoseDecoder(prof).decode(render(prof, p[None], size)), p[None], size)


def test_people_cut_at_the_top_side_by_side_stay_apart():
    prof = profile("tao-bpnet")
    h, w = prof.input.size
    people = np.stack([cut_at_top(w, h, x, 0.8 * h) for x in (0.2 * w, 0.45 * w, 0.72 * w)])
    expect(PoseDecoder(prof).decode(render(prof, people, (h, w))), people, (h, w))


def test_a_cut_person_beside_a_whole_one():
    prof = profile("tao-bpnet")
    h, w = prof.input.size
    whole = skeleton(0.3 * w, 0.55 * h, 0.7 * h, "arms_up")
    cut = cut_at_top(w, h, 0.62 * w, 0.85 * h, "wave")
    people = np.stack([whole, cut])
    expect(PoseDecoder(prof).decode(render(prof, people, (h, w))), people, (h, w))


def test_far_fragments_of_different_people_are_not_joined():
    # a right leg at the left of the image and a left leg far to the right: two hips 200 px apart
    # cannot belong to one body whose legs are 100 px long
    prof = profile("tao-bpnet")
    h, w = prof.input.size
    a = skeleton(0.3 * w, 0.5 * h, 0.45 * h)
    b = skeleton(0.7 * w, 0.5 * h, 0.45 * h)
    right = [KP[n] for n in ("r_hip", "r_knee", "r_ankle")]
    left = [KP[n] for n in ("l_hip", "l_knee", "l_ankle")]
    a[[k for k in range(NUM_KEYPOINTS) if k not in right], 2] = 0
    b[[k for k in range(NUM_KEYPOINTS) if k not in left], 2] = 0
    assert PoseDecoder(prof).decode(render(prof, np.stack([a, b]), (h, w))) == []
    # the same two legs under one pelvis are one person
    c = skeleton(0.5 * w, 0.5 * h, 0.45 * h)
    c[[k for k in range(NUM_KEYPOINTS) if k not in right + left], 2] = 0
    expect(PoseDecoder(prof).decode(render(prof, c[None], (h, w))), c[None], (h, w), n=1)


def test_weak_fragments_are_not_joined():
    prof = profile("tao-bpnet")
    h, w = prof.input.size
    people = cut_at_top(w, h, 0.5 * w, 0.9 * h)[None]
    outs = render(prof, people, (h, w))
    # keypoints (0.2) above the peak threshold (0.1), limbs (0.2) above the PAF threshold (0.05), each
    # leg's score (0.2 per keypoint and limb) below the person score (0.4): not joined
    outs[prof.outputs.heatmap.name][..., :18] *= 0.2
    outs[prof.outputs.paf.name] *= 0.2
    assert PoseDecoder(prof).decode(outs) == []
    expect(PoseDecoder(prof, min_person_score=0.15).decode(outs), people, (h, w), n=1)


def test_oracle_ceiling_on_held_out_synthetic_scenes():
    """Ground-truth maps of 100 held-out scenes through the decoder: the ceiling issue 11 asked to lift
    from 0.74 to >= 0.85 (measured 0.741 without joining, 0.872 with)."""
    synth = pytest.importorskip("edgepose.synth")
    from edgepose.evaluate import CocoKeypoints, coco_from_scenes, evaluate, oracle_detections
    from edgepose.profiles import load_profile

    scenes = [synth.render_scene([900000000, i], size=(288, 384)) for i in range(100)]
    coco = CocoKeypoints(coco_from_scenes(scenes))
    prof = load_profile("edgepose-demo")
    joined = evaluate(coco, oracle_detections(coco, prof))
    apart = evaluate(coco, oracle_detections(coco, prof, decode_overrides={"join_slack": 0}))
    assert joined["AP"] >= 0.85 and joined["AP"] >= apart["AP"] + 0.1, (joined["AP"], apart["AP"])
    assert joined["recall_by_posture"]["lying"]["recall"] >= 0.9
