"""Event lifecycle (new/update/end, cooldown, pacing, ids), zones and the analytics config schema."""
import pytest

from edgepose.analytics import AnalyticsConfig
from edgepose.analytics.config import EventsConfig
from edgepose.analytics.events import EventManager
from edgepose.analytics.zones import Zones, point_in_polygon
from edgepose.errors import ConfigError
from edgepose.validation import validate


def test_new_update_end_shapes():
    em = EventManager("cam", EventsConfig(update_interval_s=1.0, cooldown_s=10))
    new = em.new("fall", 10.0, 3, 9.2, 0.91234, (1, 2, 3, 4), ["hall"], {"impact_time": 9.6})
    a = new.after
    assert new.type == "new" and new.before is None
    assert a.label == "fall" and a.source == "cam" and a.track_id == 3
    assert a.start_time == 9.2 and a.detected_time == 10.0 and a.end_time is None
    assert a.severity == "high" and a.score == 0.912 and a.box == [1.0, 2.0, 3.0, 4.0]
    assert a.has_snapshot is False and a.snapshot is None and a.zones == ["hall"]
    a.has_snapshot = True  # a sink writing into the change does not touch the manager's state
    assert em.open_events[a.id].has_snapshot is False
    assert em.update(a.id, 10.5, box=(2, 2, 3, 4)) is None       # paced: too soon
    up = em.update(a.id, 11.5, box=(2, 2, 3, 4))
    assert up.type == "update" and up.before.box == [1.0, 2.0, 3.0, 4.0] and up.after.box[0] == 2.0
    assert em.update(a.id, 13.0, box=(2, 2, 3, 4)) is None       # nothing changed
    forced = em.update(a.id, 13.1, force=True, severity="critical")
    assert forced.after.severity == "critical"
    end = em.end(a.id, 20.0, "recovered")
    assert end.type == "end" and end.after.end_time == 20.0 and end.before.end_time is None
    assert end.after.end_reason == "recovered" and end.after.id == a.id
    assert em.end(a.id, 21.0, "again") is None


def test_cooldown_per_label_and_source():
    em = EventManager("cam", EventsConfig(cooldown_s=30))
    first = em.new("fall", 100.0, 1, 99.0, 0.9, None)
    assert em.new("fall", 101.0, 2, 100.5, 0.9, None) is None       # open: merged
    assert em.new("bad_posture", 101.0, 2, 50.0, 0.9, None) is not None  # other label: fine
    em.end(first.after.id, 105.0, "recovered")
    assert em.new("fall", 120.0, 1, 119.0, 0.9, None) is None       # within cooldown of the last one
    assert em.new("fall", 131.0, 1, 130.0, 0.9, None) is not None
    other = EventManager("cam2", EventsConfig(cooldown_s=30))
    assert other.new("fall", 101.0, 1, 100.0, 0.9, None) is not None  # per source


def test_ids_are_stable_and_distinct():
    a = EventManager("cam").new("fall", 5.0, 1, 4.0, 0.9, None).after.id
    b = EventManager("cam").new("fall", 5.0, 1, 4.0, 0.9, None).after.id
    c = EventManager("cam2").new("fall", 5.0, 1, 4.0, 0.9, None).after.id
    assert a == b != c and a.startswith("5.000-")


def test_point_in_polygon_and_zone_roles():
    sq = [(0, 0), (10, 0), (10, 10), (0, 10)]
    assert point_in_polygon(5, 5, sq) and not point_in_polygon(15, 5, sq)
    cfg = AnalyticsConfig(zones=[{"name": "bed", "role": "exclude", "polygon": sq},
                                 {"name": "room", "role": "only", "polygon": [[0, 0], [0.5, 0], [0.5, 1], [0, 1]]},
                                 {"name": "other", "role": "exclude", "polygon": sq, "sources": ["cam2"]}])
    z = Zones(cfg.zones, "cam")
    assert len(z.zones) == 2
    assert z.falls_allowed((5, 5), (100, 100)) == (False, ["bed", "room"])
    assert z.falls_allowed((30, 50), (100, 100)) == (True, ["room"])   # fractions of the frame
    assert z.falls_allowed((80, 50), (100, 100)) == (False, [])        # outside the only-zone
    assert z.falls_allowed(None) == (False, [])


def test_config_defaults_bounds_and_errors():
    cfg = AnalyticsConfig()
    assert cfg.fall.long_lie_s == 60 and cfg.fall.fall_confirm_s > 0
    assert cfg.bad_posture.torso_inclination_max_deg == 20
    for section in (cfg.tracker, cfg.posture, cfg.fall, cfg.bad_posture, cfg.events):
        for name, field in type(section).model_fields.items():
            assert field.description or field.annotation is bool, name
    with pytest.raises(ConfigError, match="fall.fall_confirm_s"):
        validate(AnalyticsConfig, {"fall": {"fall_confirm_s": -1}}, "c.yaml")
    with pytest.raises(ConfigError, match="unknown key"):
        validate(AnalyticsConfig, {"fall": {"confirm_frames": 10}}, "c.yaml")
    with pytest.raises(ConfigError, match="long_lie_s must be longer"):
        validate(AnalyticsConfig, {"fall": {"long_lie_s": 0.5, "fall_confirm_s": 1.0}}, "c.yaml")
    with pytest.raises(ConfigError, match="polygon"):
        validate(AnalyticsConfig, {"zones": [{"name": "a", "polygon": [[0, 0], [1, 1]]}]}, "c.yaml")
    with pytest.raises(ConfigError, match="unique"):
        validate(AnalyticsConfig, {"zones": [{"name": "a", "polygon": [[0, 0], [1, 1], [1, 0]]}] * 2}, "c.yaml")
