"""The ``analytics:`` section of the config: tracker, posture, falls, bad posture, zones, events.

Every threshold has a default, bounds and a description, and carries its unit in its name: ``_s``
seconds, ``_deg`` degrees, ``_body_heights`` a fraction of the person's standing height,
``_per_s`` per second. Nothing is counted in frames or raw pixels, so the same config works at any
frame rate and resolution.
"""
from typing import List, Literal, Optional, Tuple

from pydantic import Field, field_validator, model_validator

from ..validation import Strict


class TrackerConfig(Strict):
    """Keeps one id per person across frames (OKS matching + a constant-velocity model)."""

    assignment: Literal["auto", "hungarian", "greedy"] = Field(
        "auto", description="auto: scipy's linear_sum_assignment when importable, else greedy by best OKS")
    min_oks: float = Field(0.1, ge=0.0, le=1.0, description="a detection joins a track only above this OKS")
    min_keypoints: int = Field(4, ge=1, le=18, description="detections with fewer keypoints are ignored")
    max_missing_s: float = Field(1.5, gt=0, le=60, description="a track unseen for longer is dropped")
    keypoint_hold_s: float = Field(0.3, ge=0, le=10, description="a missing keypoint keeps its predicted "
                                   "position this long, then becomes missing")
    smoothing_tau_s: float = Field(0.08, ge=0, le=5, description="time constant of the keypoint low-pass "
                                   "filter (0 = raw keypoints)")
    velocity_tau_s: float = Field(0.15, gt=0, le=5, description="time constant of the velocity estimate")
    max_predict_s: float = Field(0.5, ge=0, le=5, description="never extrapolate motion further than this")


class PostureConfig(Strict):
    """Standing / sitting / lying / unknown per track, with hysteresis."""

    lying_torso_deg: float = Field(60.0, ge=10, le=90, description="torso (neck->hips) at least this far "
                                   "from vertical counts as lying")
    upright_torso_deg: float = Field(35.0, ge=0, le=80, description="torso within this of vertical is upright")
    sitting_knee_deg: float = Field(125.0, ge=60, le=180, description="knee angle (hip-knee-ankle) below "
                                    "this while upright counts as sitting")
    floor_head_body_heights: float = Field(0.35, ge=0, le=1, description="head lower than this above the "
                                           "floor (in standing heights) with hips on the floor counts as lying")
    standing_sink_body_heights: float = Field(
        0.15, ge=0, le=1, description="standing tall (which teaches the floor line) ends when the head is this "
        "far below its standing row, beyond what coming closer to the camera explains (a slow slide down a wall, "
        "legs stretched toward a raised camera)")
    crouch_torso_deg: float = Field(50.0, ge=0, le=90, description="torso within this of vertical and seen at "
                                    "full length over folded legs is a crouch: never down, however low the head")
    crouch_knee_deg: float = Field(100.0, ge=0, le=180, description="knee angle (hip-knee-ankle) at most this "
                                   "counts as folded legs (or hip to ankle short in the image)")
    ground_memory_s: float = Field(
        600.0, gt=0, le=86400, description="the per-source ground model (how tall a standing person looks at each "
        "foot row, learned from people standing) forgets samples with this time constant")
    ground_sink_body_heights: float = Field(
        0.3, ge=0, le=2, description="ground model: a head at least this far (standing heights) below where a "
        "standing person's head would be, for the row of the feet ...")
    ground_head_over_hip_body_heights: float = Field(
        0.3, ge=0, le=1, description="... and at most this high above the hips (in standing heights at the hips' "
        "row) counts as down, legs not standing: lying with the feet toward a raised camera")
    hold_s: float = Field(0.4, ge=0, le=10, description="a new posture must persist this long before it is "
                          "reported (hysteresis)")
    min_confidence: float = Field(0.3, ge=0, le=1, description="a posture below this confidence is unknown")


class FallConfig(Strict):
    """A rapid drop from upright to on-the-floor, confirmed by staying down."""

    enabled: bool = True
    velocity_body_heights_per_s: float = Field(
        0.8, gt=0, le=20, description="peak downward speed of the head/neck during the drop, in standing "
        "heights per second (a fall is roughly 1.5-3; sitting down is below 1)")
    torso_rotation_deg_per_s: float = Field(
        180.0, gt=0, le=5000, description="or: peak rotation speed of the torso toward horizontal during the "
        "drop (catches falls away from the camera, where perspective hides the head's drop)")
    drop_body_heights: float = Field(0.25, gt=0, le=2, description="the head must end at least this much "
                                     "lower than while upright")
    fall_window_s: float = Field(2.0, gt=0, le=10, description="upright to down must happen within this "
                                 "time; from standing tall to down within it is a fall from standing")
    seated_velocity_body_heights_per_s: float = Field(
        1.0, gt=0, le=20, description="a drop that starts from a lower posture (seated, kneeling, sitting on "
        "the floor) or comes after a slow descent is a fall only at this peak head speed ...")
    impact_stop_ratio: float = Field(
        0.5, gt=0, le=1, description="... and only when it ends in an impact: the head's speed 0.15-0.35 s "
        "after its peak below this share of the peak (lying down on purpose slows before the floor)")
    fast_velocity_body_heights_per_s: float = Field(
        1.6, gt=0, le=20, description="a drop this fast is a fall without the impact test, whatever posture it "
        "started from (lying down on purpose, crouching and bending stay well below)")
    slump_velocity_body_heights_per_s: float = Field(
        0.55, gt=0, le=20, description="from standing, a drop slower than velocity_body_heights_per_s is still a "
        "fall when it ends in a hard impact (see hard_impact_stop_ratio): a collapse seen along the camera axis")
    hard_impact_stop_ratio: float = Field(
        0.15, gt=0, le=1, description="... the head's speed 0.15-0.35 s after its peak below this share of the peak")
    fall_confirm_s: float = Field(1.0, ge=0, le=30, description="stay down this long before the alert is raised")
    recover_s: float = Field(1.5, ge=0, le=60, description="upright this long after a fall ends the event")
    long_lie_s: float = Field(60.0, gt=0, le=3600, description="still down this long after the impact "
                              "raises a long_lie alert")
    lost_end_s: float = Field(30.0, gt=0, le=3600, description="a fall whose person is not seen for this "
                              "long ends (reason: lost)")
    motion_start_body_heights_per_s: float = Field(
        0.25, gt=0, le=10, description="the fall's start_time is when the downward speed first exceeded this")
    person_down: bool = Field(True, description="raise 'person_down' for someone who comes down without a fall "
                              "(a slow slide down a wall) and ends slumped, head hanging")
    slump_s: float = Field(2.5, gt=0, le=600, description="the head must hang for this long (median over it)")
    slump_descent_s: float = Field(6.0, ge=0, le=600, description="... starting at most this long after the "
                                   "person stopped standing (sitting upright and nodding off later is no alarm)")
    slump_head_body_heights: float = Field(
        -0.025, ge=-0.2, le=0.2, description="the nose at most this far above the neck (negative: above) counts "
        "as a hanging head, in standing heights (sitting upright: about -0.07)")


class BadPostureConfig(Strict):
    """Seated desk posture from the side: neck and torso inclination held too long.

    Defaults follow RULA: trunk flexion above 20 degrees leaves the lowest band; on the
    shoulder->ear line (about 15-20 degrees when neutral) a neck of 40 degrees means about
    20 degrees of head flexion, RULA's worst neck band.
    """

    enabled: bool = True
    neck_inclination_max_deg: float = Field(40.0, ge=0, le=90, description="shoulder->ear line vs vertical")
    torso_inclination_max_deg: float = Field(20.0, ge=0, le=90, description="hip->shoulder line vs vertical")
    sustained_s: float = Field(120.0, gt=0, le=36000, description="over a threshold this long raises the alert")
    clear_s: float = Field(10.0, ge=0, le=3600, description="below both thresholds this long ends it")
    gap_tolerance_s: float = Field(3.0, ge=0, le=600, description="brief corrections shorter than this do not "
                                   "reset the timer")
    seated_only: bool = Field(True, description="only judge people whose posture is sitting")


class ZoneConfig(Strict):
    """A polygon in source-image pixels. exclude: no falls inside (bed, sofa); only: falls only here."""

    name: str = Field(..., min_length=1)
    role: Literal["exclude", "only"] = "exclude"
    polygon: List[Tuple[float, float]] = Field(..., description="[[x, y], ...], at least 3 points")
    sources: Optional[List[str]] = Field(None, description="sources the zone applies to (default: all)")

    @field_validator("polygon")
    @classmethod
    def _three_points(cls, v):
        if len(v) < 3:
            raise ValueError("a polygon needs at least 3 points")
        return v


class EventsConfig(Strict):
    """The event feed: cooldowns and update pacing."""

    cooldown_s: float = Field(30.0, ge=0, le=86400, description="after a fall/long_lie/bad_posture alert, "
                              "another of the same label from the same source within this time is "
                              "merged into it (one fall = one alert)")
    update_interval_s: float = Field(5.0, ge=0, le=3600, description="at most one 'update' per event this often")


class AnalyticsConfig(Strict):
    tracker: TrackerConfig = Field(default_factory=TrackerConfig)
    posture: PostureConfig = Field(default_factory=PostureConfig)
    fall: FallConfig = Field(default_factory=FallConfig)
    bad_posture: BadPostureConfig = Field(default_factory=BadPostureConfig)
    zones: List[ZoneConfig] = Field(default_factory=list)
    events: EventsConfig = Field(default_factory=EventsConfig)

    @model_validator(mode="after")
    def _cross_checks(self):
        if self.posture.upright_torso_deg >= self.posture.lying_torso_deg:
            raise ValueError("posture.upright_torso_deg must be below posture.lying_torso_deg")
        if self.fall.long_lie_s <= self.fall.fall_confirm_s:
            raise ValueError("fall.long_lie_s must be longer than fall.fall_confirm_s")
        names = [z.name for z in self.zones]
        if len(set(names)) != len(names):
            raise ValueError("zones: names must be unique")
        return self
