"""The decoder's stages one by one: peaks (NMS, sub-pixel refinement, score), limb scoring, assembly."""
import numpy as np
import pytest

from edgepose.decode import LimbCandidates, Peaks, assemble, find_peaks
from edgepose.decode.maps import MapSet
from edgepose.decode.paf import LimbScorer
from edgepose.profiles import DecodeParams
from edgepose.topology import NUM_KEYPOINTS


def blob(h, w, cy, cx, sigma=1.0, amp=1.0):
    yy, xx = np.mgrid[0:h, 0:w]
    return (amp * np.exp(-0.5 * (((yy - cy) / sigma) ** 2 + ((xx - cx) / sigma) ** 2))).astype(np.float32)


def heat_with(*blobs, h=36, w=48):
    heat = np.zeros((NUM_KEYPOINTS, h, w), np.float32)
    for part, cy, cx, kw in blobs:
        heat[part] = np.maximum(heat[part], blob(h, w, cy, cx, **kw))
    return heat


# -- peaks --------------------------------------------------------------------------------------

@pytest.mark.parametrize("sigma_smooth", [0.0, 0.375, 0.75])
def test_subpixel_refinement_interior_and_border(sigma_smooth):
    rng = np.random.default_rng(0)
    stride = 8
    for _ in range(60):
        # anywhere, including the outer ring of cells (one neighbour missing)
        cy, cx = rng.uniform(-0.3, 35.3), rng.uniform(-0.3, 47.3)
        s = rng.uniform(0.8, 1.3)
        amp = rng.uniform(0.3, 1.0)
        pk = find_peaks(heat_with((3, cy, cx, {"sigma": s, "amp": amp})), stride, 0.1, sigma_smooth)
        assert pk.count.tolist() == [0, 0, 0, 1] + [0] * 14
        want = np.array([(cx + 0.5) * stride - 0.5, (cy + 0.5) * stride - 0.5])
        err = np.hypot(*(pk.xy[0] - want))
        corner = (cx < 0.5 or cx > 46.5) and (cy < 0.5 or cy > 34.5)  # no neighbour on either axis
        # measured: <= 0.035 px (3.7 px in a corner cell, where neither axis has both neighbours)
        assert err <= (4.0 if corner else 0.1), (cy, cx, s, pk.xy[0], want)
        # score: the unsmoothed map at the refined position = the blob's height
        assert abs(pk.score[0] - amp) <= (0.15 if corner else 0.001) * amp


def test_peak_threshold_and_grouping_by_part():
    heat = heat_with((0, 10, 10, {"amp": 0.5}), (5, 20, 30, {}), (5, 5, 40, {}), (17, 30, 3, {"amp": 0.09}))
    pk = find_peaks(heat, 8, 0.1)
    assert pk.part.tolist() == [0, 5, 5]
    assert pk.start[5] == 1 and pk.count[5] == 2 and pk.count[17] == 0
    assert find_peaks(np.zeros((18, 36, 48), np.float32), 8, 0.1).xy.shape == (0, 2)


def test_flat_top_gives_one_peak():
    heat = np.zeros((18, 20, 20), np.float32)
    heat[2, 8:10, 8:10] = 0.8  # a 2x2 plateau
    pk = find_peaks(heat, 8, 0.1)
    assert len(pk.part) == 1
    assert np.allclose(pk.xy[0], (8 + 0.5) * 8 - 0.5, atol=4.0)


def test_nms_window():
    heat = heat_with((1, 10, 10, {"sigma": 0.6}), (1, 10, 13, {"sigma": 0.6, "amp": 0.8}))
    assert len(find_peaks(heat, 8, 0.1, window=3).part) == 2
    assert len(find_peaks(heat, 8, 0.1, window=7).part) == 1


# -- limb scoring -------------------------------------------------------------------------------

def make_peaks(rows):
    """rows: (part, x, y, score) sorted by part -> Peaks."""
    rows = sorted(rows, key=lambda r: r[0])
    part = np.array([r[0] for r in rows], np.int64)
    count = np.bincount(part, minlength=NUM_KEYPOINTS)
    xy = np.array([[r[1], r[2]] for r in rows], np.float32).reshape(-1, 2)
    score = np.array([r[3] for r in rows], np.float32)
    return Peaks(xy, score, part, np.cumsum(count) - count, count)


def params(**kw):
    base = dict(peak_threshold=0.1, paf_threshold=0.05, paf_samples=10, paf_count_ratio=0.8, distance_prior=False,
                min_parts=1, min_person_score=0.0, seedless_limbs=[], smooth_sigma=0.0, nms_window=3)
    base.update(kw)
    return DecodeParams(**base)


def paf_row(n_on, length=20, h=5, w=40):
    """A stride-1 NHWC PAF with 2 channels, pointing +x on row 2 for x < 2 * n_on: the first
    n_on samples of the segment (0, 2) -> (length, 2) lie on it (samples at x = 1, 3, 5, ...)."""
    paf = np.zeros((h, w, 2), np.float32)
    paf[2, : 2 * n_on, 0] = 1.0
    return MapSet(None, 1, paf.reshape(-1), (h, w), (w * 2, 2, 1), 1, (h, w))


@pytest.mark.parametrize("n_on,accepted", [(10, True), (9, True), (8, False), (0, False)])
def test_count_rule_needs_more_than_ratio(n_on, accepted):
    peaks = make_peaks([(0, 0, 2, 1.0), (1, 20, 2, 1.0)])
    scorer = LimbScorer(np.array([[0, 1]]), np.array([[0, 1]]), params(paf_count_ratio=0.8))
    c = scorer.score(peaks, paf_row(n_on))
    assert (len(c.limb) == 1) == accepted
    if accepted:
        assert c.score[0] == pytest.approx(n_on / 10.0, abs=1e-6)


def test_direction_and_distance_prior():
    fwd = make_peaks([(0, 0, 2, 1.0), (1, 20, 2, 1.0)])
    limb = (np.array([[0, 1]]), np.array([[0, 1]]))
    assert len(LimbScorer(*limb, params()).score(fwd, paf_row(10)).limb) == 1
    # the same two points as a limb 1 -> 0: the field points against it
    assert len(LimbScorer(np.array([[1, 0]]), limb[1], params()).score(fwd, paf_row(10)).limb) == 0
    # distance prior: 0.5 * H / len - 1 with H = 5 rows and len = 20 -> -0.875
    c = LimbScorer(*limb, params(distance_prior=True)).score(fwd, paf_row(10))
    assert c.score[0] == pytest.approx(1.0 - 0.875, abs=1e-5)


def test_pairs_of_several_limbs_sorted_by_score():
    # two limbs share the map: channel 0/1 for limb 0 (+x field), nothing for limb 1
    peaks = make_peaks([(0, 0, 2, 1.0), (1, 20, 2, 1.0), (1, 10, 2, 1.0), (2, 30, 2, 1.0)])
    scorer = LimbScorer(np.array([[0, 1], [1, 2]]), np.array([[0, 1], [0, 1]]), params(paf_count_ratio=0.5))
    c = scorer.score(peaks, paf_row(20))
    # limb 0: (0->20) and (0->10) both lie on the field; limb 1: 20->30 and 10->30 too
    assert c.limb.tolist() == [0, 0, 1, 1]
    assert np.all(np.diff(c.score[:2]) <= 0) and np.all(np.diff(c.score[2:]) <= 0)


# -- assembly -----------------------------------------------------------------------------------

def cands(rows):
    rows = sorted(rows, key=lambda r: (r[0], -r[3]))
    a = np.array(rows, dtype=np.float64).reshape(-1, 4)
    return LimbCandidates(a[:, 0].astype(np.int64), a[:, 1].astype(np.int64), a[:, 2].astype(np.int64),
                          a[:, 3].astype(np.float32))


LIMBS = np.array([[0, 1], [2, 3], [1, 2], [0, 2]])


def test_greedy_each_keypoint_once_per_limb_and_score_definition():
    # parts 0: peaks 0, 1; part 1: peaks 2, 3
    peaks = make_peaks([(0, 0, 0, 0.9), (0, 0, 0, 0.8), (1, 0, 0, 0.7), (1, 0, 0, 0.6)])
    c = cands([(0, 0, 2, 0.9), (0, 0, 3, 0.8), (0, 1, 3, 0.7), (0, 1, 2, 0.5)])
    out = assemble(peaks, c, LIMBS, [False] * 4, 1, 0.0)
    got = sorted((parts[0], parts[1], round(score, 4)) for parts, score in out)
    # (0, 2) wins, then (1, 3); (0, 3) and (1, 2) reuse a keypoint
    assert got == [(0, 2, round((0.9 + 0.7 + 0.9) / 2, 4)), (1, 3, round((0.8 + 0.6 + 0.7) / 2, 4))]


def test_partial_people_merge_and_slots_are_never_overwritten():
    # part 0: peak 0; part 1: peak 1; part 2: peaks 2, 3; part 3: peak 4
    peaks = make_peaks([(0, 0, 0, 1.0), (1, 0, 0, 1.0), (2, 0, 0, 1.0), (2, 0, 0, 0.5), (3, 0, 0, 1.0)])
    c = cands([
        (0, 0, 1, 0.5),   # person A = {0, 1}
        (1, 2, 4, 0.4),   # person B = {2, 3}
        (2, 1, 2, 0.3),   # joins A and B
        (3, 0, 3, 0.9),   # part 2 of the merged person is taken by peak 2: peak 3 is not swapped in
    ])
    out = assemble(peaks, c, LIMBS, [False] * 4, 1, 0.0)
    assert len(out) == 1
    parts, score = out[0]
    assert parts[:4] == [0, 1, 2, 4] and set(parts[4:]) == {-1}
    assert score == pytest.approx((4.0 + 0.5 + 0.4 + 0.3) / 4)


def test_seedless_limbs_extend_but_do_not_start():
    peaks = make_peaks([(0, 0, 0, 1.0), (1, 0, 0, 1.0), (2, 0, 0, 1.0), (2, 0, 0, 1.0), (3, 0, 0, 1.0)])
    seedless = [False, True, False, True]
    # limb 1 alone (seedless): nobody
    assert assemble(peaks, cands([(1, 2, 4, 0.5)]), LIMBS, seedless, 1, 0.0) == []
    # limb 0 makes a person, limb 3 (seedless) extends it with part 2
    out = assemble(peaks, cands([(0, 0, 1, 0.5), (3, 0, 3, 0.5)]), LIMBS, seedless, 1, 0.0)
    assert [p[:3] for p, _ in out] == [[0, 1, 3]]


def test_filters():
    peaks = make_peaks([(0, 0, 0, 0.2), (1, 0, 0, 0.2), (2, 0, 0, 0.2)])
    c = cands([(0, 0, 1, 0.1), (2, 1, 2, 0.1)])  # one person of 3 parts, score (0.6 + 0.2) / 3
    assert len(assemble(peaks, c, LIMBS, [False] * 4, 3, 0.0)) == 1
    assert assemble(peaks, c, LIMBS, [False] * 4, 4, 0.0) == []
    assert len(assemble(peaks, c, LIMBS, [False] * 4, 3, 0.26)) == 1
    assert assemble(peaks, c, LIMBS, [False] * 4, 3, 0.27) == []


def test_max_peaks_keeps_the_strongest():
    heat = np.zeros((18, 30, 30), np.float32)
    heat[4, 2::4, 2::4] = np.arange(1, 50).reshape(7, 7) / 50.0  # 49 isolated cells
    pk = find_peaks(heat, 8, 0.01, max_peaks=5)
    assert pk.count[4] == 5
    assert np.allclose(sorted(pk.score), np.arange(45, 50) / 50.0, atol=1e-6)
    assert len(find_peaks(heat, 8, 0.01).part) == 49


def test_noise_maps_are_bounded():
    # A broken model's noise makes every ninth cell a peak (~200 per keypoint here, 700k pairs to
    # score, seconds); max_peaks bounds it (32 per keypoint: ~15 ms).
    from edgepose.decode import PoseDecoder
    from maps import render

    rng = np.random.default_rng(0)
    outs = {k: rng.random(v.shape).astype(np.float32) for k, v in render("tao-bpnet", np.zeros((0, 18, 3))).items()}
    dec = PoseDecoder("tao-bpnet")
    assert dec.find_peaks(outs).count.max() == dec.params.max_peaks == 32
    assert PoseDecoder("tao-bpnet", max_peaks=1000).find_peaks(outs).count.min() > 100
    assert isinstance(dec.decode(outs), list)
