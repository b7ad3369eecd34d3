"""Replay: a recorded pose stream through analytics and sinks, offline and fast.

The input is the recording format (docs/contracts.md): one JSON object per line and frame, one or
several sources interleaved; a line that cannot be replayed as it is (not a finite number, a
half-missing keypoint) stops the replay with "FILE:LINE: what is wrong" and exit code 2. Each source gets its own ``Analyzer``; the event changes go to the
configured sinks and, with ``events_path``, to a JSONL event feed. No images are involved, so a day
of recorded poses is re-scored in seconds after a threshold change.
"""
import io
import logging
import os
import time
from typing import Optional

from pydantic import Field

from .analytics import Analyzer, AnalyticsConfig
from .errors import InputError
from .recording import parse_line
from .sinks import SinkSet, SinksConfig, build_sinks, change_json
from .validation import Strict, load_yaml, validate

log = logging.getLogger(__name__)


class ReplayConfig(Strict):
    """A replay config file: just the ``analytics:`` and ``sinks:`` sections."""

    analytics: AnalyticsConfig = Field(default_factory=AnalyticsConfig)
    sinks: SinksConfig = Field(default_factory=SinksConfig)


def load_replay_config(path):
    """(analytics_for(source) -> AnalyticsConfig, SinksConfig) from a YAML file.

    A file with only ``analytics:``/``sinks:`` is validated here; a full service config (with
    ``sources:`` etc.) goes through ``edgepose.config.load_config`` so per-source zones apply.
    """
    data = load_yaml(path)
    if set(data) <= {"analytics", "sinks"}:
        cfg = validate(ReplayConfig, data, path)
        return (lambda source: cfg.analytics), cfg.sinks
    from .config import load_config

    full = load_config(path)

    def analytics_for(source):
        if full.source(source) is not None:
            return full.analytics_for(source)
        return full.analytics

    return analytics_for, full.sinks


def _text_lines(f, path):
    """The lines of ``f``; a file that is not UTF-8 text (a video given by mistake) is one clear error."""
    lineno = 0
    try:
        for lineno, line in enumerate(f, 1):
            yield line
    except UnicodeDecodeError:
        raise InputError("%s:%d: not a pose recording (binary data, not JSON lines): give the file written by "
                         "`edgepose run SOURCE --record poses.jsonl`" % (path, lineno + 1))


class ReplayStats(object):
    def __init__(self):
        self.frames = 0
        self.people = 0
        self.changes = 0
        self.sources = set()
        self.labels = {}
        self.seconds = 0.0

    @property
    def fps(self):
        return self.frames / self.seconds if self.seconds > 0 else 0.0


def replay(path, analytics_for=None, sinks_config=None, events_path=None, sinks=None, progress_every_s=5.0):
    # type: (str, Optional[callable], Optional[SinksConfig], Optional[str], Optional[list], float) -> ReplayStats
    """Run a recording through analytics (one ``Analyzer`` per source) and sinks.

    analytics_for: source name -> AnalyticsConfig (default config when None). sinks_config: the
    sinks to build (none when None); ``sinks``: already built sinks (the caller closes them).
    events_path: also write every change to this JSONL file.
    """
    path = os.fspath(path)
    if not os.path.isfile(path):
        raise InputError("%s: recording not found" % path)
    analytics_for = analytics_for or (lambda source: AnalyticsConfig())
    own_sinks = build_sinks(sinks_config) if sinks_config is not None and sinks is None else []
    fanout = SinkSet(list(sinks or ()) + own_sinks)
    out = None
    if events_path:
        parent = os.path.dirname(os.path.abspath(events_path))
        if not os.path.isdir(parent):
            raise InputError("--events %s: folder %s does not exist" % (events_path, parent))
        out = io.open(events_path, "w", encoding="utf-8")
    analyzers = {}
    st = ReplayStats()
    t0 = last_log = time.perf_counter()
    from .service.logsetup import rate_limited

    try:
        with rate_limited(), io.open(path, encoding="utf-8") as f:
            for lineno, line in enumerate(_text_lines(f, path), 1):
                if not line.strip():
                    continue
                try:
                    rec = parse_line(line, "%s:%d" % (path, lineno))
                except InputError:
                    if not line.endswith("\n"):
                        log.warning("%s:%d: truncated last line skipped", path, lineno)
                        break
                    raise
                t, source, people = rec.t, rec.source or "default", rec.people
                size = (rec.height, rec.width)
                an = analyzers.get(source)
                if an is None:
                    an = analyzers[source] = Analyzer(analytics_for(source), source)
                    st.sources.add(source)
                changes = an.update(t, people, frame_size=size)
                st.frames += 1
                st.people += len(people)
                if changes:
                    st.changes += len(changes)
                    for c in changes:
                        key = "%s %s" % (c.after.label, c.type)
                        st.labels[key] = st.labels.get(key, 0) + 1
                    fanout.send(changes, source)
                    if out is not None:
                        for c in changes:
                            out.write(change_json(c) + "\n")
                if progress_every_s and st.frames % 4096 == 0:
                    now = time.perf_counter()
                    if now - last_log >= progress_every_s:
                        last_log = now
                        log.info("replay: %d frames, %d changes, %.0f frames/s", st.frames, st.changes,
                                 st.frames / (now - t0))
    finally:
        st.seconds = time.perf_counter() - t0
        if out is not None:
            out.close()
        SinkSet(own_sinks).close(10.0)  # the caller's sinks are the caller's to close
    return st
