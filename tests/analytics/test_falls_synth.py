"""Fall detection over every edgepose.synth scenario, several seeds, with detector-like noise.

Noise is added here (keypoint jitter of 1% of the body's height, 5% keypoint dropout, 3% dropped
frames). Alerts are 'fall' and 'person_down' (``scoring.ALERT_LABELS``); one matching rule
(``scoring.match_falls``): from 0.5 s before a truth fall's start to 2 s after its impact. Falls
whose person lands out of the picture (torso absent from the ground truth after the impact) are left
out: no pose-based detector can see them. ``tools/fall_report.py`` prints the same as a table.

Seed discipline: the bundled model was trained on sequence seeds below 800000000; the analytics were
tuned on 930000000..930000099 and 940000000..940000059 (TUNE_SEEDS is part of the first range: this
is a regression guard, not a held-out figure); held-out figures come from 970000000 on (``tools/fall_report.py --first-seed
970000000``) and are never used for tuning.
"""
import pytest

from edgepose.analytics import AnalyticsConfig
from edgepose.analytics.scoring import perturb, run_frames, score, visible_falls
from edgepose.synth import sequences

TUNE_SEEDS = tuple(range(930000000, 930000010))
# Every scenario must stay at least this good on TUNE_SEEDS (what the fall logic gives today; a
# change that drops below is a regression). Misses left today: a few falls seen along the viewing axis by
# a raised camera that still never look "down" (lying flat with the feet toward the camera, before the
# source's ground model has seen enough people standing).
MIN_RECALL = {"fall_forward": 1.0, "fall_backward": 1.0, "fall_sideways": 1.0, "fall_from_sitting": 1.0,
              "slide_wall": 1.0, "fall_recover": 0.77, "fall_toward_camera": 0.9, "mixed": 1.0}
MAX_FALSE_ALARMS = {"crouch": 1}  # every other scenario: none


def _run(name, seed):
    seq = sequences.generate_sequence(name, seed)
    truth, hidden = visible_falls(seq.frames, seq.truth)
    changes = run_frames(perturb(seq.frames, 1000 + seed), AnalyticsConfig(), seq.zones, source="synth")
    return score(changes, truth, max_delay_s=2.0, hidden=hidden)


@pytest.mark.parametrize("name", sorted(sequences.SCENARIOS))
def test_scenario(name):
    falls = detected = false_alarms = 0
    notes = []
    for seed in TUNE_SEEDS:
        r = _run(name, seed)
        falls += r["falls"]
        detected += r["detected"]
        false_alarms += r["false_alarms"]
        assert all(d <= 2.0 for d in r["delays"])
        if r["false_alarms"] or r["detected"] < r["falls"]:
            notes.append("seed %d: %d/%d detected, alerts %s" % (seed, r["detected"], r["falls"], [
                (a.label, a.detected_time) for a in r["alerts"]]))
    assert false_alarms <= MAX_FALSE_ALARMS.get(name, 0), notes
    if falls:
        assert detected / float(falls) >= MIN_RECALL[name] - 1e-9, notes


@pytest.mark.parametrize("seed", TUNE_SEEDS)
def test_lying_down_slowly_is_never_an_alarm(seed):
    """Kneel, sit, lie down on purpose: the issue's worst case (it alarmed every time elsewhere)."""
    r = _run("lie_floor_slow", seed)
    assert r["alerts"] == []


def test_slide_down_a_wall_ends_as_person_down():
    seq = sequences.generate_sequence("slide_wall", 930000005)
    changes = run_frames(perturb(seq.frames, 1000 + 930000005), AnalyticsConfig(), seq.zones)
    (new,) = [c.after for c in changes if c.type == "new"]
    assert new.label == "person_down" and new.severity == "high"
    assert 0.0 <= new.detected_time - seq.truth[0]["impact_t"] <= 2.0
    assert new.attributes["head_hang_body_heights"] >= AnalyticsConfig().fall.slump_head_body_heights


@pytest.mark.parametrize("seed, why", [
    (930000000, "walked away from a camera at head height first: not 'tall' for 5 s before the slide"),
    (940000010, "the posture flickers to 'down by the body' at the end of the slide"),
    (940000007, "the nose hides as the head drops, the ears stay in view"),
])
def test_slide_down_a_wall_caught_when(seed, why):
    """Slides the person-down watch missed before it kept a window of head rows (extra tuning seeds)."""
    seq = sequences.generate_sequence("slide_wall", seed)
    changes = run_frames(perturb(seq.frames, 1000 + seed), AnalyticsConfig(), seq.zones)
    new = [c.after for c in changes if c.type == "new"]
    assert [a.label for a in new] == ["person_down"], why
    assert 0.0 <= new[0].detected_time - seq.truth[0]["impact_t"] <= 2.0, why


@pytest.mark.parametrize("name, seed, why", [
    ("fall_toward_camera", 940000007, "legs and torso foreshortened toward the camera: not a crouch"),
    ("fall_toward_camera", 940000014, "legs and torso foreshortened toward the camera: not a crouch"),
    ("mixed", 940000001, "lying at a slant to the view: torso tilted 45 degrees, head low over the hips"),
    ("fall_backward", 940000010, "walked away from a level camera first: the standing reference follows"),
    ("fall_sideways", 940000012, "walked away from a level camera first: the standing reference follows"),
])
def test_fall_caught_when(name, seed, why):
    """Falls missed before the standing reference followed people walking away, the ground cue took
    tilted bodies, and folded-looking legs under a foreshortened torso stopped counting as a crouch
    (extra tuning seeds)."""
    r = _run(name, seed)
    assert r["detected"] == r["falls"] == 1 and r["false_alarms"] == 0, (why, r["alerts"])


def test_bending_seen_from_behind_is_not_a_person_down():
    """Seen from behind the nose is never seen and an ear sits at the neck's row while bending: no hang."""
    r = _run("bend_pick", 930000012)
    assert r["alerts"] == []


def _lie_down_variant(ctx):
    """Lying down on purpose, scripted unlike ``lie_floor_slow``: no kneeling and no pauses - from
    standing straight down into a crouch, onto the floor beside the feet, then stretched out on the
    side or back, one continuous movement of 4-6 s."""
    from edgepose.synth import poses as posing
    from edgepose.synth.scenarios import _lead_in, _lying_pose

    rng = ctx.rng
    m = ctx.person(*ctx.floor())
    _lead_in(ctx, m, rng.uniform(2.0, 4.0))
    m.to(m.with_position(posing.crouch_pose(rng)), rng.uniform(1.2, 1.8), "lying_down")
    m.to(m.with_position(posing.sit_floor_pose(rng)), rng.uniform(1.0, 1.6), "lying_down")
    m.to(_lying_pose(rng, str(rng.choice(["side", "back"])), m), rng.uniform(1.8, 2.6), "lying_down")
    m.hold(rng.uniform(4.0, 6.0), "lying", sway=0.2)


@pytest.mark.parametrize("seed", TUNE_SEEDS)
def test_lying_down_scripted_differently_is_no_alarm(seed):
    sc = sequences.Scenario("lie_floor_continuous", "crouch, sit, lie down in one movement", False, _lie_down_variant)
    seq = sequences.generate_sequence(sc, seed)
    changes = run_frames(perturb(seq.frames, 1000 + seed), AnalyticsConfig(), seq.zones)
    assert [(c.after.label, c.after.detected_time) for c in changes if c.type == "new"] == []


def test_an_alert_for_a_fall_out_of_view_is_neither_a_hit_nor_a_false_alarm():
    from edgepose.analytics.scoring import match_falls

    seen = {"start_t": 1.0, "impact_t": 2.0}
    out_of_view = {"start_t": 10.0, "impact_t": 11.0}
    matches, false_alarms = match_falls([2.5, 11.5, 20.0], [seen], hidden=[out_of_view])
    assert [i for _, i in matches] == [0] and false_alarms == 1  # 20.0 is false; 11.5 is the hidden fall's
    matches, false_alarms = match_falls([2.5, 11.5, 20.0], [seen])
    assert false_alarms == 2
