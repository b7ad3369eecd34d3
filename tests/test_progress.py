"""Progress of long jobs: a tqdm bar on a terminal, plain log lines elsewhere (pipes, systemd, -q)."""
import io
import logging

import pytest

from edgepose import progress as prog


class _Tty(io.StringIO):
    def isatty(self):
        return True


@pytest.fixture
def info_level():
    logger = logging.getLogger("edgepose")
    old = logger.level
    logger.setLevel(logging.INFO)
    yield
    logger.setLevel(old)


def test_bar_only_on_an_interactive_terminal(monkeypatch, info_level):
    for key in ("INVOCATION_ID", "JOURNAL_STREAM", "EDGEPOSE_PROGRESS"):
        monkeypatch.delenv(key, raising=False)
    monkeypatch.setenv("TERM", "xterm")
    assert prog.interactive(_Tty())
    assert not prog.interactive(io.StringIO())                 # a pipe or a file
    monkeypatch.setenv("INVOCATION_ID", "0123")                 # a systemd unit
    assert not prog.interactive(_Tty())
    monkeypatch.delenv("INVOCATION_ID")
    monkeypatch.setenv("EDGEPOSE_PROGRESS", "0")
    assert not prog.interactive(_Tty())
    monkeypatch.delenv("EDGEPOSE_PROGRESS")
    logging.getLogger("edgepose").setLevel(logging.WARNING)     # -q
    assert not prog.interactive(_Tty())


def test_tqdm_bar_when_interactive_and_log_lines_otherwise(monkeypatch, info_level):
    tqdm = pytest.importorskip("tqdm")
    monkeypatch.setattr(prog, "interactive", lambda stream=None: True)
    with prog.progress(3, "rendering", unit="image") as bar:
        assert isinstance(bar, tqdm.tqdm)
        bar.update()
    monkeypatch.setattr(prog, "interactive", lambda stream=None: False)
    assert isinstance(prog.progress(3, "rendering"), prog.LogProgress)


def test_without_tqdm_a_terminal_gets_log_lines(monkeypatch):
    monkeypatch.setattr(prog, "interactive", lambda stream=None: True)
    monkeypatch.setattr(prog.deps, "optional", lambda name, module=None: None)
    assert isinstance(prog.progress(3, "x"), prog.LogProgress)


def test_log_progress_lines(caplog):
    caplog.set_level(logging.INFO, logger="edgepose.progress")
    with prog.LogProgress(4, "eval", unit="image", every_s=0.0) as p:
        for _ in range(4):
            p.update()
        p.set_postfix_str("7 people found")
    lines = [r.getMessage() for r in caplog.records]
    assert lines[0].startswith("eval: 1/4 (25%)") and "image/s" in lines[0]
    assert lines[-1].startswith("eval: 4/4 (100%)") and lines[-1].endswith("7 people found")


def test_library_prints_become_debug_records(capsys, caplog):
    log = logging.getLogger("edgepose.test")
    caplog.set_level(logging.DEBUG, logger="edgepose.test")
    with prog.prints_to_log(log):
        print("Collecting tensor data and making histogram ...")
        print("Number of tensors : 12", end="")
    assert capsys.readouterr().out == ""
    assert [r.getMessage() for r in caplog.records] == ["Collecting tensor data and making histogram ...",
                                                        "Number of tensors : 12"]
    assert all(r.levelno == logging.DEBUG for r in caplog.records)
