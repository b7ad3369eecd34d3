"""The per-source ground model (analytics/ground.py) and what the fall logic does with it."""
import math

import numpy as np
import pytest

from edgepose.analytics import AnalyticsConfig, Analyzer
from edgepose.analytics.ground import GroundModel
from edgepose.analytics.scoring import perturb, run_frames, score, visible_falls
from edgepose.synth import sequences


def _samples(rng, n, slope=0.6, offset=20.0, rows=(120.0, 260.0), spread=0.04):
    v = rng.uniform(rows[0], rows[1], n)
    return v, (slope * v + offset) * rng.normal(1.0, spread, n)


def test_learns_a_line_from_standing_samples_in_one_vectorised_step():
    rng = np.random.default_rng(0)
    g = GroundModel()
    assert not g.ready and math.isnan(g.span(200.0))
    v, s = _samples(rng, 400)
    g.add(1.0, v, s)
    assert g.ready
    st = g.state()
    assert st["slope"] == pytest.approx(0.6, abs=0.05) and st["offset_px"] == pytest.approx(20.0, abs=10.0)
    got = g.span(np.array([150.0, 250.0]))
    assert got == pytest.approx([110.0, 170.0], rel=0.04)
    assert g.span(200.0) == pytest.approx(140.0, rel=0.04)


def test_needs_enough_samples_and_answers_only_near_the_rows_it_has_seen():
    rng = np.random.default_rng(1)
    g = GroundModel()
    v, s = _samples(rng, 10)
    g.add(0.0, v, s)
    assert not g.ready  # ten samples are not enough
    v, s = _samples(rng, 200, rows=(200.0, 240.0))
    g.add(1.0, v, s)
    assert g.ready
    assert np.isfinite(g.span(220.0))
    assert math.isnan(g.span(20.0))  # far above every foot row seen: no guess


def test_one_spot_gives_that_spot_only():
    g = GroundModel()
    g.add(0.0, np.full(50, 200.0), np.full(50, 150.0))
    assert g.state()["slope"] == 0.0
    assert g.span(205.0) == pytest.approx(150.0)
    assert math.isnan(g.span(300.0))


def test_memory_is_bounded_and_forgets_and_outliers_are_not_learned():
    rng = np.random.default_rng(2)
    g = GroundModel(tau_s=10.0)
    v, s = _samples(rng, 300)
    g.add(0.0, v, s)
    n = g.samples
    g.add(1.0, v, s * 3.0)  # a mis-detected "standing" crowd three times too tall: rejected
    assert g.samples == pytest.approx(n * math.exp(-0.1))
    assert g.span(200.0) == pytest.approx(140.0, rel=0.05)
    g.add(100.0, [], [])  # ten time constants later almost nothing is left
    assert g.samples < 0.01 * n and not g.ready
    assert g._sums.shape == (5,)  # the whole memory


def test_bad_samples_are_ignored():
    g = GroundModel()
    g.add(0.0, [np.nan, 100.0, np.inf], [50.0, np.nan, 30.0])
    assert g.samples == 0.0


def _walkers():
    seq = sequences.generate_sequence("walking", 930000001)
    return perturb(seq.frames, 1001)


def test_the_analyzer_learns_it_from_people_walking_and_keeps_it_across_a_reload():
    an = Analyzer(AnalyticsConfig(), "cam")
    frames = _walkers()
    for t, people, size in frames:
        an.update(t, people, frame_size=size)
    assert an.ground.ready and an.ground.state()["slope"] > 0.1  # people lower in the image look taller
    before = an.ground.state()
    an.reconfigure(AnalyticsConfig(posture={"ground_memory_s": 1200.0}))
    assert an.ground.state() == before and an.ground.tau_s == 1200.0
    tr = [t for t in an.tracks if t.features is not None and t.features.sink is not None]
    assert tr and all(abs(t.features.sink) < 0.3 for t in tr if t.features.tall)


# tuning seeds where the only cue that the person is down is the ground model (lying with the feet
# toward a raised camera: in the image the body looks like someone sitting on the floor)
GROUND_ONLY = (("mixed", 930000006), ("fall_backward", 930000005))


@pytest.mark.parametrize("name,seed", GROUND_ONLY)
def test_a_fall_with_the_feet_toward_a_raised_camera_is_caught_through_the_ground_model(name, seed):
    seq = sequences.generate_sequence(name, seed)
    truth, _ = visible_falls(seq.frames, seq.truth)
    frames = perturb(seq.frames, 1000 + seed)
    r = score(run_frames(frames, AnalyticsConfig(), seq.zones), truth)
    assert r["detected"] == r["falls"] == 1 and r["false_alarms"] == 0
    off = AnalyticsConfig(posture={"ground_sink_body_heights": 2.0})  # the ground cue switched off
    assert score(run_frames(frames, off, seq.zones), truth)["detected"] == 0
