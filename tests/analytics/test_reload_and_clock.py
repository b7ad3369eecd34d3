"""A reload in the middle of a fall, and wall-clock steps: neither may end, hide or delay an alert.

The MQTT ``person_down`` state is ON while a fall / long_lie / person_down event of the source is
open (``sinks/mqtt.py``), so "no 'end' change" below is the same as "person_down stays ON".
"""
import logging
import math

import pytest

from edgepose.analytics import AnalyticsConfig
from edgepose.analytics.clock import AnalyticsClock
from edgepose.service.analytics import SourceAnalytics
from helpers import SIZE, make_scene

LONG_LIE_S = 60.0


def _lying_on(frames, seconds, dt=0.1):
    """The scene, then its last frame (the person on the floor) repeated for ``seconds``."""
    last_t, last_people = frames[-1]
    n = int(seconds / dt)
    return frames + [(last_t + dt * i, last_people) for i in range(1, n + 1)]


def _feed(target, frames, clock=None):
    out = []
    for t, people in frames:
        for c in target.update(t if clock is None else clock(t), people, SIZE):
            out.append((t, c))
    return out


@pytest.mark.parametrize("change", [
    {"bad_posture": {"sustained_s": 30.0}},                                   # an unrelated value
    {"fall": {"fall_confirm_s": 2.0, "recover_s": 3.0}, "events": {"update_interval_s": 1.0}},
    {"zones": [{"name": "corner", "polygon": [[0, 0], [10, 0], [10, 10]]}]},
])
def test_reload_mid_fall_keeps_the_fall_open_and_long_lie_on_time(change):
    frames, truth, _ = make_scene("fall_forward", 0)
    frames = _lying_on(frames, LONG_LIE_S + 5.0)
    base = AnalyticsConfig()
    sa = SourceAnalytics(base, "cam")
    impact = truth[0][1]
    before = [f for f in frames if f[0] < impact + 1.6]  # the fall is raised ~1 s after the impact
    after = frames[len(before):]
    out = _feed(sa, before)
    assert [c.after.label for _, c in out if c.type == "new"] == ["fall"]
    fall = [c.after for _, c in out if c.type == "new"][0]
    sa.configure(AnalyticsConfig.model_validate(dict(base.model_dump(), **change)))
    assert sa.config != base and sa.inner.config == sa.config
    out += _feed(sa, after)
    assert not [c for _, c in out if c.type == "end"], "a reload ended an event while the person is down"
    lls = [(t, c.after) for t, c in out if c.type == "new" and c.after.label == "long_lie"]
    assert len(lls) == 1
    t_ll, ll = lls[0]
    assert fall.attributes["impact_time"] + LONG_LIE_S <= t_ll <= fall.attributes["impact_time"] + LONG_LIE_S + 0.3
    assert ll.attributes["fall_id"] == fall.id
    assert fall.id in sa.inner.events.open_events


def test_a_backward_clock_step_blinds_nothing_and_is_logged_once(caplog):
    """Live frames carry wall-clock time; NTP steps it back 30 s right before the fall."""
    frames, truth, _ = make_scene("fall_forward", 0)
    frames = _lying_on(frames, LONG_LIE_S + 5.0)
    step_at, step = truth[0][0] - 0.5, 30.0
    wall = [(t if t < step_at else t - step, people) for t, people in frames]
    sa = SourceAnalytics(AnalyticsConfig(), "cam")
    with caplog.at_level(logging.WARNING, logger="edgepose.analytics.clock"):
        out = _feed(sa, wall)
    news = [c.after for _, c in out if c.type == "new"]
    assert [e.label for e in news] == ["fall", "long_lie"]
    fall, ll = news
    # event fields are wall-clock time: after the step
    assert abs(fall.attributes["impact_time"] - (truth[0][1] - step)) < 0.6
    assert abs(fall.detected_time - (truth[0][1] - step)) <= 2.0
    assert LONG_LIE_S <= ll.detected_time - fall.attributes["impact_time"] <= LONG_LIE_S + 0.3
    steps = [r for r in caplog.records if "went back" in r.getMessage()]
    assert len(steps) == 1
    assert 29.8 <= float(steps[0].getMessage().split("went back ")[1].split(" s")[0]) <= 30.0


def test_clock_maps_steps_and_bad_timestamps():
    c = AnalyticsClock("cam")
    assert c(100.0) == 100.0 and c(100.1) == pytest.approx(100.1)
    assert c(50.0) > 100.1  # a step back: analytics time still moves on
    assert c.to_wall(c.now) == 50.0
    now = c.now
    assert c(50.1) == pytest.approx(now + 0.1)
    assert c(float("nan")) > now + 0.1 and c(float("inf")) > now + 0.1  # never stuck, never infinite
    assert math.isfinite(c.now) and c.steps == 3
    with pytest.raises(ValueError):
        AnalyticsClock()(float("inf"))
