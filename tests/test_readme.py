"""The README's code blocks, run as written (issue 14: README commands that failed as written).

Every fenced block carries a marker on the line above it:

- ``<!-- readme-test: run -->``: run here, in README order, in one fresh folder (a user's session):
  a ``sh`` block line by line through ``bash`` with the ``edgepose`` console script on PATH, a
  ``python`` block as a script; each must exit 0 without a traceback;
- ``<!-- readme-test: profile NAME -->``: a YAML excerpt whose every value must equal the built-in profile;
- ``<!-- readme-test: skip (why) -->``: needs a camera, a Jetson, TensorRT or the user's own model;
  reported as a skip with that reason (``pytest -ra`` lists them).
"""
import os
import re
import shlex
import shutil
import stat
import subprocess
import sys

import pytest
import yaml

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
README = os.path.join(ROOT, "README.md")
MARK = re.compile(r"<!--\s*readme-test:\s*(\w+)\s*(.*?)\s*-->")


def readme_blocks():
    """[(line number, language, marker kind, marker argument, code)] of every fenced block."""
    lines = open(README, encoding="utf-8").read().splitlines()
    blocks, i = [], 0
    while i < len(lines):
        m = re.match(r"^\s*```(\w*)\s*$", lines[i])
        if not m:
            i += 1
            continue
        start, lang = i, m.group(1)
        j = i + 1
        while not re.match(r"^\s*```\s*$", lines[j]):
            j += 1
        above = next((lines[k] for k in range(start - 1, -1, -1) if lines[k].strip()), "")
        mark = MARK.search(above)
        kind, arg = (mark.group(1), mark.group(2)) if mark else (None, "")
        indent = len(lines[start]) - len(lines[start].lstrip())
        code = "\n".join(line[indent:] for line in lines[start + 1:j])
        blocks.append((start + 1, lang, kind, arg, code))
        i = j + 1
    return blocks


BLOCKS = readme_blocks()


def test_every_block_says_whether_it_runs():
    unmarked = ["README.md:%d" % n for n, _, kind, _, _ in BLOCKS if kind not in ("run", "skip", "profile")]
    assert not unmarked, "code blocks without a readme-test marker: %s" % unmarked
    assert sum(kind == "run" for _, _, kind, _, _ in BLOCKS) >= 3


@pytest.fixture(scope="module")
def session(tmp_path_factory):
    """A fresh folder and a PATH whose ``edgepose`` is this checkout's console script."""
    folder = tmp_path_factory.mktemp("readme")
    bindir = folder / "bin"
    bindir.mkdir()
    script = shutil.which("edgepose", path=os.path.dirname(sys.executable))
    wrapper = bindir / "edgepose"
    if script:
        wrapper.symlink_to(script)
    else:  # no console script next to this interpreter: the same entry point through -m
        wrapper.write_text('#!/bin/sh\nexec "%s" -m edgepose "$@"\n' % sys.executable)
        wrapper.chmod(wrapper.stat().st_mode | stat.S_IEXEC)
    env = dict(os.environ, PATH="%s%s%s" % (bindir, os.pathsep, os.environ.get("PATH", "")),
               PYTHONPATH=ROOT, EDGEPOSE_PROGRESS="0")
    work = folder / "work"
    work.mkdir()
    return {"cwd": str(work), "env": env, "done": set()}


def _commands(code):
    """The shell commands of a block: one per line, comments dropped (shlex knows quoting)."""
    out = []
    for line in code.splitlines():
        words = shlex.split(line, comments=True)
        if words:
            out.append(" ".join(shlex.quote(w) for w in words))
    return out


def _run_block(index, session):
    line, lang, _, _, code = BLOCKS[index]
    if lang == "python":
        path = os.path.join(session["cwd"], "readme_block_%d.py" % line)
        with open(path, "w") as f:
            f.write(code + "\n")
        runs = [[sys.executable, path]]
    else:
        runs = [["bash", "-c", cmd] for cmd in _commands(code)]
    for argv in runs:
        r = subprocess.run(argv, cwd=session["cwd"], env=session["env"], capture_output=True, text=True,
                           timeout=600)
        shown = argv[-1]
        assert r.returncode == 0, "README.md:%d: `%s` exited %d\n%s%s" % (line, shown, r.returncode, r.stdout[-2000:],
                                                                          r.stderr[-4000:])
        assert "Traceback" not in r.stderr, "README.md:%d: `%s`\n%s" % (line, shown, r.stderr)
    session["done"].add(index)


@pytest.mark.slow
@pytest.mark.parametrize("index", [i for i, b in enumerate(BLOCKS) if b[2] == "run"],
                         ids=lambda i: "line%d" % BLOCKS[i][0])
def test_runnable_block(index, session):
    for earlier in range(index):          # a block may use what an earlier one made (clip.mp4)
        if BLOCKS[earlier][2] == "run" and earlier not in session["done"]:
            _run_block(earlier, session)
    _run_block(index, session)


@pytest.mark.parametrize("index", [i for i, b in enumerate(BLOCKS) if b[2] == "skip"],
                         ids=lambda i: "line%d" % BLOCKS[i][0])
def test_block_not_run_here(index):
    line, _, _, why, _ = BLOCKS[index]
    pytest.skip("README.md:%d not run here: %s" % (line, why.strip("() ") or "no reason given"))


def _check_subset(shown, actual, path):
    if isinstance(shown, dict):
        assert isinstance(actual, dict), path
        for key, value in shown.items():
            assert key in actual, "%s.%s is not a profile key" % (path, key)
            _check_subset(value, actual[key], "%s.%s" % (path, key))
    elif isinstance(shown, list) and path.endswith(".limbs"):
        assert [list(x) for x in actual[:len(shown)]] == shown, path   # the README shows the first limbs
    elif isinstance(shown, list):
        assert list(actual) == shown, path
    else:
        assert actual == shown, "%s: README shows %r, the profile has %r" % (path, shown, actual)


@pytest.mark.parametrize("index", [i for i, b in enumerate(BLOCKS) if b[2] == "profile"],
                         ids=lambda i: "line%d" % BLOCKS[i][0])
def test_profile_excerpt_matches_the_builtin_profile(index):
    from edgepose.profiles import load_profile

    line, _, _, arg, code = BLOCKS[index]
    name = arg.split()[0]
    prof = load_profile(name).model_dump(mode="json")
    prof["limbs"] = [[a, b, x, y] for a, b, x, y in prof["limbs"]]
    _check_subset(yaml.safe_load(code), prof, "README.md:%d" % line)
