"""The standing reference, crouching and the descent test, each on a tuning-seed sequence that once went wrong.

Seeds are from the tuning range (930000000..930000099): these are regression guards, not held-out
figures. Noise as everywhere in the fall tests (``scoring.perturb``).
"""
from edgepose.analytics import AnalyticsConfig, Analyzer
from edgepose.analytics.scoring import perturb, run_frames, score, visible_falls
from edgepose.synth import sequences


def _trace(name, seed):
    """(sequence, [(t, features, posture_state)] of the one person)."""
    seq = sequences.generate_sequence(name, seed)
    an = Analyzer(AnalyticsConfig(), "cam")
    rows = []
    for t, people, size in perturb(seq.frames, 1000 + seed):
        an.update(t, people, size)
        matched = [tr for tr in an.tracks if tr.matched and tr.features is not None]
        if matched:
            rows.append((t, matched[0].features, matched[0].posture_state))
    return seq, rows


def _detected(seq, seed):
    truth, _ = visible_falls(seq.frames, seq.truth)
    r = score(run_frames(perturb(seq.frames, 1000 + seed), AnalyticsConfig(), seq.zones), truth)
    return r["detected"], r["falls"], r["false_alarms"]


def test_a_slow_slide_with_the_legs_toward_a_raised_camera_is_not_standing():
    """Slumped against a wall, legs stretched toward a camera 2.6 m up: in the image a standing person,
    only lower. The standing reference does not follow the head down, so the floor line stays put
    and the slide ends as a person down."""
    seq, rows = _trace("slide_wall", 930000001)
    start, impact = seq.truth[0]["start_t"], seq.truth[0]["impact_t"]
    before = [r for r in rows if start - 1.0 <= r[0] < start]
    after = [r for r in rows if r[0] > impact]
    assert all(f.tall for _, f, _ in before[-5:])
    assert not any(f.tall for _, f, _ in after)
    floor0, ref = before[-1][2].floor_y, before[-1][2].ref_h
    assert abs(after[-1][2].floor_y - floor0) < 0.05 * ref
    assert _detected(seq, 930000001) == (1, 1, 0)


def test_walking_toward_a_raised_camera_stays_standing_tall():
    """The head comes down the image as the person comes closer and grows: still standing tall."""
    seq, rows = _trace("fall_backward", 930000047)
    start = seq.truth[0]["start_t"]
    walk = [f.tall for t, f, _ in rows if start - 1.0 <= t < start]
    assert sum(walk) >= 0.5 * len(walk)


def test_a_very_fast_drop_from_a_chair_needs_no_impact_test():
    """Toppling off a chair at ~3 standing heights/s: the head keeps moving after its peak (a roll), so
    the impact test fails, but no controlled movement is that fast."""
    seq = sequences.generate_sequence("fall_from_sitting", 930000020)
    assert _detected(seq, 930000020) == (1, 1, 0)


def test_crouching_low_and_bent_forward_is_no_fall():
    """Crouching to the floor, torso bent forward toward the camera and foreshortened: the body counts
    as down, but it came down onto folded legs without an impact."""
    for seed in (930000021, 930000033, 930000051):
        seq = sequences.generate_sequence("crouch", seed)
        assert _detected(seq, seed) == (0, 0, 0), seed
