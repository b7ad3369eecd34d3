"""The one map renderer (edgepose.synth.targets): training targets, test maps and oracle maps alike."""
import importlib.util
import inspect
import os

import numpy as np
import pytest

from edgepose.profiles import load_profile
from edgepose.synth.targets import flip_keypoints, grid, render_heatmaps, render_maps, render_pafs
from edgepose.topology import KP, LIMB_INDEX, NUM_KEYPOINTS

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def person(**parts):
    """One person with only the given keypoints labelled (v = 2)."""
    p = np.zeros((1, NUM_KEYPOINTS, 3), np.float32)
    p[..., :2] = np.nan
    for name, (x, y) in parts.items():
        p[0, KP[name]] = (x, y, 2)
    return p


def test_training_targets_module_reexports_the_package_renderer():
    spec = importlib.util.spec_from_file_location("targets_tool", os.path.join(ROOT, "tools", "targets.py"))
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    assert mod.render_heatmaps is render_heatmaps and mod.render_pafs is render_pafs
    assert mod.grid is grid and mod.flip_keypoints is flip_keypoints
    # the signatures the training script calls
    assert list(inspect.signature(mod.render_heatmaps).parameters)[:4] == ["keypoints", "size", "stride", "sigma"]
    assert list(inspect.signature(mod.render_pafs).parameters)[:4] == ["keypoints", "size", "stride", "limb_width"]


def test_grid_cell_centres():
    xs, ys = grid((16, 24), 8)
    assert xs.tolist() == [3.5, 11.5, 19.5] and ys.tolist() == [3.5, 11.5]


@pytest.mark.parametrize("sigma", [4.0, 6.0, 9.0])
def test_heatmap_gaussian_of_the_given_sigma_cut_at_three_sigma(sigma):
    size, stride = (96, 128), 4
    x, y = 61.5, 41.5  # exactly on a cell centre
    heat = render_heatmaps(person(neck=(x, y)), size, stride, sigma)
    assert heat.shape == (19, 24, 32) and heat.dtype == np.float32
    xs, ys = grid(size, stride)
    d2 = (xs[None, :] - x) ** 2 + (ys[:, None] - y) ** 2
    inside = (np.abs(xs[None, :] - x) <= 3 * sigma) & (np.abs(ys[:, None] - y) <= 3 * sigma)
    want = np.where(inside, np.exp(-d2 / (2 * sigma ** 2)), 0.0)
    np.testing.assert_allclose(heat[KP["neck"]], want, atol=1e-6)
    assert heat[KP["neck"]].max() == pytest.approx(1.0)
    np.testing.assert_allclose(heat[18], 1.0 - want, atol=1e-6)
    assert not heat[[k for k in range(18) if k != KP["neck"]]].any()


def test_heatmap_max_over_people_and_unlabelled_ignored():
    a = person(nose=(20.0, 20.0))
    b = person(nose=(28.0, 20.0))
    c = person(nose=(60.0, 20.0))
    c[0, KP["nose"], 2] = 0  # not labelled
    both = render_heatmaps(np.concatenate([a, b, c]), (64, 96), 8, 6.0)
    sep = np.maximum(render_heatmaps(a, (64, 96), 8, 6.0), render_heatmaps(b, (64, 96), 8, 6.0))
    np.testing.assert_array_equal(both[:18], sep[:18])
    np.testing.assert_allclose(both[18], 1.0 - both[:18].max(axis=0), atol=1e-7)


def test_paf_band_half_width_across_and_half_of_it_beyond_the_ends():
    # a horizontal limb neck (20, 40) -> r_hip (60, 40) on a stride-1 grid (cell centres at integers)
    lw = 8.0
    p = person(neck=(20.0, 40.0), r_hip=(60.0, 40.0))
    paf = render_pafs(p, (80, 100), 1, lw)
    assert paf.shape == (38, 80, 100)
    px, py = paf[0], paf[1]  # limb 0 = neck -> r_hip
    assert not py.any()
    band = px > 0
    ys, xs = np.nonzero(band)
    assert (ys.min(), ys.max()) == (40 - 8, 40 + 8)          # |across| <= limb_width
    assert (xs.min(), xs.max()) == (20 - 4, 60 + 4)          # along in [-lw/2, length + lw/2]
    assert np.all(px[band] == 1.0)
    assert not paf[2:].any()


def test_paf_overlapping_limbs_are_averaged():
    a = person(neck=(20.0, 40.0), r_hip=(60.0, 40.0))   # pointing right
    b = person(neck=(40.0, 20.0), r_hip=(40.0, 60.0))   # pointing down, crossing at (40, 40)
    paf = render_pafs(np.concatenate([a, b]), (80, 100), 1, 4.0)
    assert paf[0, 40, 40] == pytest.approx(0.5) and paf[1, 40, 40] == pytest.approx(0.5)
    assert paf[0, 40, 25] == 1.0 and paf[1, 25, 40] == 1.0


def test_flip_swaps_sides():
    p = person(r_wrist=(10.0, 5.0), l_wrist=(30.0, 6.0))
    f = flip_keypoints(p, 100)
    assert f[0, KP["l_wrist"], :2].tolist() == [89.0, 5.0] and f[0, KP["r_wrist"], :2].tolist() == [69.0, 6.0]


def test_render_maps_lays_out_the_training_maps_and_repeats_the_paf_like_the_onnx():
    prof = load_profile("tao-bpnet")
    size = tuple(prof.input.size)
    from edgepose.synth.figures import crowd

    people = crowd(4, size, seed=2)
    fine = render_maps(prof, people, size)
    coarse = render_maps(prof, people, size, paf_from_stride=8)
    heat = render_heatmaps(people, size, 8)
    hname, pname = prof.outputs.heatmap.name, prof.outputs.paf.name
    np.testing.assert_array_equal(fine[hname][0], heat.transpose(1, 2, 0))
    np.testing.assert_array_equal(fine[pname][0], render_pafs(people, size, 2, 8.0).transpose(1, 2, 0))
    want = render_pafs(people, size, 8, 8.0).repeat(4, axis=1).repeat(4, axis=2)
    assert coarse[pname].shape == (1, 144, 192, 38)
    np.testing.assert_array_equal(coarse[pname][0], want.transpose(1, 2, 0))


def test_render_maps_follows_the_profiles_channel_order():
    prof = load_profile("tf-pose")
    size = tuple(prof.input.size)
    p = person(neck=(200.0, 100.0), r_shoulder=(170.0, 104.0))
    (name, out), = render_maps(prof, p, size, batch=False, layout="NCHW").items()
    assert out.shape == (57, 46, 54)
    k = [tuple(l) for l in LIMB_INDEX.tolist()].index((KP["neck"], KP["r_shoulder"]))
    ref = render_pafs(p, size, 8, 8.0)[2 * k]
    np.testing.assert_array_equal(out[31], ref)   # tf-pose: neck -> r_shoulder x in channel 31
    assert out[31].min() < 0 and not out[19:31].any()


def test_render_maps_drops_keypoints_outside_the_image():
    prof = load_profile("tao-bpnet")
    p = person(neck=(-6.0, 100.0), r_hip=(20.0, 160.0))
    outs = render_maps(prof, p, batch=False)
    assert not outs[prof.outputs.heatmap.name][..., KP["neck"]].any()
    assert not outs[prof.outputs.paf.name].any()
    # the training renderer draws what it is given
    assert render_heatmaps(p, prof.input.size, 8)[KP["neck"]].max() > 0.1


def _paf_reference(kps, size, stride, lw):
    """Every cell of the grid tested against the band rule (no windowing): the definition itself."""
    xs, ys = grid(size, stride)
    gx, gy = np.meshgrid(xs, ys)
    acc = np.zeros((2 * len(LIMB_INDEX),) + gx.shape, np.float64)
    cnt = np.zeros((len(LIMB_INDEX),) + gx.shape)
    for p in kps:
        for k, (a, b) in enumerate(LIMB_INDEX.tolist()):
            if p[a, 2] <= 0 or p[b, 2] <= 0:
                continue
            d = p[b, :2].astype(np.float64) - p[a, :2]
            n = np.hypot(*d)
            u = d / n
            rx, ry = gx - p[a, 0], gy - p[a, 1]
            along, across = rx * u[0] + ry * u[1], np.abs(rx * u[1] - ry * u[0])
            m = (along >= -lw / 2) & (along <= n + lw / 2) & (across <= lw)
            acc[2 * k] += m * u[0]
            acc[2 * k + 1] += m * u[1]
            cnt[k] += m
    return acc / np.repeat(np.maximum(cnt, 1), 2, axis=0)


@pytest.mark.parametrize("stride", [1, 2, 8])
def test_paf_windowing_equals_the_definition(stride):
    rng = np.random.default_rng(stride)
    kps = np.zeros((3, NUM_KEYPOINTS, 3), np.float32)
    kps[..., 0] = rng.uniform(-10, 138, (3, NUM_KEYPOINTS))
    kps[..., 1] = rng.uniform(-10, 106, (3, NUM_KEYPOINTS))
    kps[..., 2] = 2
    # limbs at every angle, incl. diagonals whose band corners reach beyond the ends' box by > limb_width
    got = render_pafs(kps, (96, 128), stride, 9.0)
    want = _paf_reference(kps.astype(np.float64), (96, 128), stride, 9.0)
    # (fixed seeds: no cell falls within float32 rounding of the band's edge)
    assert np.count_nonzero(np.abs(got - want) > 1e-5) == 0
