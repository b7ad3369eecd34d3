"""Journald-friendly log format and rate limiting of repeated errors."""
import io
import logging

from edgepose.service.logsetup import JournalFormatter, RateLimitFilter, parse_level, setup, syslog_priority, under_systemd


def record(msg, level=logging.ERROR, name="edgepose.sources", args=()):
    return logging.LogRecord(name, level, __file__, 1, msg, args, None)


def test_detects_systemd():
    assert under_systemd({"JOURNAL_STREAM": "8:1234"})
    assert under_systemd({"INVOCATION_ID": "abc"})
    assert not under_systemd({})


def test_priority_prefix_and_no_timestamp():
    f = JournalFormatter()
    assert f.format(record("camera %s lost", args=("cam1",))) == "<3>edgepose.sources: camera cam1 lost"
    assert f.format(record("hello", level=logging.INFO)).startswith("<6>")
    assert f.format(record("x", level=logging.WARNING)).startswith("<4>")
    assert f.format(record("x", level=logging.DEBUG)).startswith("<7>")
    assert syslog_priority(logging.CRITICAL) == 2
    assert all(line.startswith("<3>") for line in f.format(record("a\nb")).splitlines())


def test_setup_formats(monkeypatch):
    buf = io.StringIO()
    root = logging.getLogger()
    old = list(root.handlers), root.level
    try:
        setup(logging.INFO, journal=True, stream=buf)
        logging.getLogger("edgepose.x").warning("w %d", 1)
        assert buf.getvalue() == "<4>edgepose.x: w 1\n"
        buf2 = io.StringIO()
        setup(logging.INFO, journal=False, stream=buf2)
        logging.getLogger("edgepose.x").info("plain")
        line = buf2.getvalue().strip()
        assert line.endswith("INFO edgepose.x: plain") and line[:4].isdigit()  # starts with the date
        assert len(root.handlers) == 1
    finally:
        root.handlers[:] = old[0]
        root.setLevel(old[1])


def test_rate_limit_repeated_errors():
    clock = [0.0]
    flt = RateLimitFilter(burst=3, period=10.0, clock=lambda: clock[0])
    passed = []
    for i in range(100):  # a dead camera failing 100 times in 10 s
        r = record("cannot open %s: %s", args=("cam1", "timeout"))
        clock[0] += 0.05
        if flt.filter(r):
            passed.append(r.getMessage())
    assert len(passed) == 4
    assert "suppressed" in passed[-1]
    other = record("something else")
    assert flt.filter(other)  # other messages are not affected
    assert flt.filter(record("info %s", level=logging.INFO, args=(1,)))  # below min level: never limited
    clock[0] += 10.0
    r = record("cannot open %s: %s", args=("cam1", "timeout"))
    assert flt.filter(r)
    assert "96 similar messages suppressed" in r.getMessage()
    assert r.getMessage().startswith("cannot open cam1: timeout")


def test_parse_level():
    assert parse_level("info") == logging.INFO
    assert parse_level("WARNING") == logging.WARNING
    import pytest

    with pytest.raises(ValueError):
        parse_level("loud")


def test_alert_lines_are_never_rate_limited():
    """Each log-sink line is an alert of some source: after five a minute they must all still pass."""
    f = RateLimitFilter(burst=5, period=60.0, clock=lambda: 0.0)
    alerts = [record("%s", level=logging.WARNING, name="edgepose.events", args=("fall new cam%d" % i,))
              for i in range(20)]
    assert all(f.filter(r) for r in alerts)
    assert sum(f.filter(record("camera lost")) for _ in range(20)) == 6  # others still are


def test_rate_limited_block_for_commands_without_daemon_logging():
    from edgepose.service.logsetup import rate_limited

    buf = io.StringIO()
    handler = logging.StreamHandler(buf)
    root = logging.getLogger()
    root.addHandler(handler)
    try:
        with rate_limited(burst=3, period=60.0):
            for _ in range(100):
                logging.getLogger("edgepose.sinks.x").warning("same warning")
        logging.getLogger("edgepose.sinks.x").warning("same warning")  # the limit ends with the block
    finally:
        root.removeHandler(handler)
    assert buf.getvalue().count("same warning") == 3 + 1 + 1
