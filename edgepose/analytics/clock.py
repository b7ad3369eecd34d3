"""The analytics clock: frame timestamps in, a time that never goes backwards out.

Live frames are stamped with wall-clock time (``time.time()``), which jumps when NTP corrects a
Jetson without a real-time clock. Everything inside the analytics (tracker ages, fall windows, the
long-lie timer, cooldowns) runs on ``AnalyticsClock`` time instead: it starts at the first frame's
timestamp and advances by the time between frames; a step back of the wall clock (or a timestamp
that is not a finite number) advances it by one typical frame interval and is logged once, so a
step of N seconds blinds nothing. Event fields keep wall-clock time (``to_wall``), for display.
A recording or clip (media time from 0) keeps its own timestamps unchanged.
"""
import logging
import math

log = logging.getLogger(__name__)

_DEFAULT_STEP_S = 1.0 / 15.0
_MAX_NOMINAL_S = 1.0


class AnalyticsClock(object):
    """``clock(t) -> analytics time``; ``to_wall(analytics time) -> wall-clock time``."""

    def __init__(self, source="default"):
        self.source = source
        self.now = None        # analytics time of the last frame
        self.wall = None       # its wall-clock timestamp
        self.steps = 0         # backward steps seen
        self._interval = _DEFAULT_STEP_S

    def __call__(self, t):
        t = float(t)
        if self.now is None:
            if not math.isfinite(t):
                raise ValueError("the first frame's timestamp is %r: not a finite number of seconds" % t)
            self.now = self.wall = t
            return t
        dt = t - self.wall if math.isfinite(t) else float("nan")
        if dt >= 0.0:
            if 0.0 < dt <= _MAX_NOMINAL_S:  # a running estimate of the frame interval
                self._interval += 0.1 * (dt - self._interval)
            self.now += dt
            self.wall = t
            return self.now
        self.steps += 1
        if math.isfinite(t):
            log.warning("%s: the wall clock went back %.3f s (NTP correction?); analytics go on with their "
                        "own clock, event times follow the wall clock", self.source, -dt)
            self.wall = t
        else:
            log.warning("%s: frame timestamp %r is not a number; analytics go on with their own clock",
                        self.source, t)
            self.wall += self._interval
        self.now += self._interval
        return self.now

    def to_wall(self, t):
        """Wall-clock time of analytics time ``t`` (for event fields)."""
        if t is None or self.now is None:
            return t
        return t + (self.wall - self.now)
