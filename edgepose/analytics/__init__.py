"""Analytics: tracking, posture, falls, bad posture, zones and the event feed.

``Analyzer(config, source).update(t, people, frame_size=(H, W))`` returns Frigate-style event
changes; ``AnalyticsConfig`` is the ``analytics:`` config section.
"""
from .analyzer import Analyzer
from .config import (AnalyticsConfig, BadPostureConfig, EventsConfig, FallConfig, PostureConfig,
                     TrackerConfig, ZoneConfig)
from .tracker import Track, Tracker

__all__ = ["Analyzer", "AnalyticsConfig", "TrackerConfig", "PostureConfig", "FallConfig",
           "BadPostureConfig", "ZoneConfig", "EventsConfig", "Track", "Tracker"]
