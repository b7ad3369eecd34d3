"""What a newcomer hits first (issue 14), tried the way a user types it: ``python -m edgepose ...`` in a
subprocess, checking the exit code, that there is no traceback, and that a mistake is one line naming
the file/key/option and the fix.

Items: (1) the bundled model's warning on non-synthetic input, (3) config check and source options,
(4) one line instead of tracebacks (sizes, outputs checked before the work, binary files given as
text, a reader that goes away), (5) unreadable inputs and exit codes, (6) empty ONNX files,
(7) -v/-q after the sub-command, --json, quiet library chatter. The README (2) and overlays (8)
have their own test modules.
"""
import json
import os
import shutil
import subprocess
import sys

import numpy as np
import pytest

cv2 = pytest.importorskip("cv2")

from edgepose.models import bundled_model  # noqa: E402

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
WARNING = "bundled demo model knows only synthetic figures"
BUNDLED, _ = bundled_model()


def edgepose(*args, cwd=None, timeout=180):
    env = dict(os.environ, PYTHONPATH=ROOT)
    return subprocess.run([sys.executable, "-m", "edgepose"] + [str(a) for a in args], capture_output=True,
                          text=True, cwd=cwd, env=env, timeout=timeout)


def one_error(r, code, *needles):
    """The run failed with ``code``, no traceback, exactly one error line, holding every needle."""
    assert r.returncode == code, (r.returncode, r.stdout, r.stderr)
    assert "Traceback" not in r.stderr, r.stderr
    errors = [line for line in r.stderr.splitlines() if ": error: " in line]
    assert len(errors) == 1, r.stderr
    for needle in needles:
        assert needle in errors[0], (needle, errors[0])
    return errors[0]


def ok(r):
    assert r.returncode == 0, (r.stdout, r.stderr)
    assert "Traceback" not in r.stderr, r.stderr
    return r


@pytest.fixture(scope="module")
def work(tmp_path_factory):
    """A folder with what the tests run on: photos that are not synthetic (noise), a synthetic image set
    and clip made by `edgepose synth`, a broken image, a file standing where a folder should be."""
    d = tmp_path_factory.mktemp("first_use")
    rng = np.random.default_rng(0)
    photos = d / "photos"
    photos.mkdir()
    for i in range(2):
        cv2.imwrite(str(photos / ("p%d.jpg" % i)), rng.integers(0, 255, (120, 160, 3), dtype=np.uint8))
    ok(edgepose("synth", "images", "--count", 2, "--size", "96x128", "--out", d / "synth", "-q"))
    ok(edgepose("synth", "clip", "--scenario", "standing", "--duration", 1.5, "--size", "96x128",
                "--out", d / "clip.mp4", "-q"))
    (d / "broken.jpg").write_bytes(b"this is not a JPEG")
    (d / "afile").write_text("a file, not a folder\n")
    (d / "empty.onnx").write_bytes(b"")
    return d


# -- 1. the bundled model on input that is not synthetic --------------------------------------------
def test_bundled_model_warns_once_on_photos(work):
    r = ok(edgepose("infer", work / "photos" / "p0.jpg", work / "photos" / "p1.jpg"))
    lines = [line for line in r.stderr.splitlines() if WARNING in line]
    assert len(lines) == 1, r.stderr
    assert "WARNING" in lines[0] and "--model" in lines[0] and "--engine" in lines[0]


def test_no_warning_on_synthetic_input_or_an_explicit_model(work):
    assert WARNING not in ok(edgepose("infer", work / "synth")).stderr
    assert WARNING not in ok(edgepose("run", work / "clip.mp4", "--max-frames", 3)).stderr
    assert WARNING not in ok(edgepose("infer", work / "photos", "--model", BUNDLED)).stderr


def test_warning_on_a_video_that_edgepose_did_not_make(work, tmp_path):
    shutil.copy(str(work / "clip.mp4"), str(tmp_path / "holiday.mp4"))    # no .truth.json beside it
    r = ok(edgepose("run", tmp_path / "holiday.mp4", "--max-frames", 3))
    assert sum(WARNING in line for line in r.stderr.splitlines()) == 1, r.stderr


def test_config_check_notes_the_bundled_model_on_a_camera(tmp_path):
    path = tmp_path / "c.yaml"
    path.write_text("sources:\n  - {name: cam, uri: /dev/video0}\n")
    r = ok(edgepose("config", "check", path))
    assert "note: " + "the " + WARNING in r.stdout and "model.model" in r.stdout


def test_serve_logs_the_warning_at_start(work):
    env = dict(os.environ, PYTHONPATH=ROOT)
    env.pop("INVOCATION_ID", None)
    env.pop("JOURNAL_STREAM", None)
    p = subprocess.Popen([sys.executable, "-m", "edgepose", "serve", "--source", str(work / "photos"), "--loop",
                          "--http", "off"], stderr=subprocess.PIPE, stdout=subprocess.DEVNULL, text=True, env=env)
    seen = []
    try:
        for line in p.stderr:
            seen.append(line)
            if WARNING in line or "loading" in line:
                break
    finally:
        p.terminate()
        p.wait(timeout=30)
    assert any(WARNING in line and "warning" in line.lower() for line in seen), "".join(seen)


# -- 3. config check and source options -------------------------------------------------------------
def _yaml(tmp_path, text, name="c.yaml"):
    path = tmp_path / name
    path.write_text(text)
    return path


@pytest.mark.parametrize("options, needle", [
    ("{width: abc}", "width='abc': expected a positive whole number"),
    ("{colour: red}", "unknown option colour"),
    ("{fps: -2}", "fps=-2: expected a positive number"),
])
def test_config_check_refuses_bad_source_options(tmp_path, options, needle):
    path = _yaml(tmp_path, "sources:\n  - {name: cam, uri: /dev/video0, options: %s}\n" % options)
    one_error(edgepose("config", "check", path), 2, "c.yaml", "sources.0.options", needle)


def test_config_check_reads_options_in_the_uri_too(tmp_path):
    path = _yaml(tmp_path, "sources:\n  - {name: cam, uri: '/dev/video0?height=x'}\n")
    one_error(edgepose("config", "check", path), 2, "height='x'")


def test_config_check_takes_an_analytics_and_sinks_file(tmp_path):
    path = _yaml(tmp_path, "analytics:\n  fall: {fall_confirm_s: 2}\nsinks:\n  jsonl: {enabled: true, path: e.jsonl}\n")
    r = ok(edgepose("config", "check", path))
    assert "ok" in r.stdout and "run --config" in r.stdout
    bad = _yaml(tmp_path, "analytics:\n  fall: {fall_confirm_s: soon}\n", "bad.yaml")
    one_error(edgepose("config", "check", bad), 2, "analytics.fall.fall_confirm_s", "expected a number")


@pytest.mark.parametrize("uri, needle", [
    ("/dev/video9?width=abc", "width='abc'"),
    ("{clip}?fps=3", "unknown option fps for a video file"),
])
def test_run_source_options_are_one_line(work, uri, needle):
    one_error(edgepose("run", uri.format(clip=work / "clip.mp4")), 2, needle)


def test_config_messages_speak_plainly(tmp_path):
    """No pydantic internals: no 'Value error,', no '(top level)', no 'Input should be'."""
    path = _yaml(tmp_path, "sources:\n  - {name: a, uri: x.mp4}\n  - {name: a, uri: y.mp4}\n")
    line = one_error(edgepose("config", "check", path), 2, "sources: names must be unique")
    bad = _yaml(tmp_path, "sources:\n  - {name: a, uri: x.mp4}\nmodel: {size: [1, 2, 3]}\n", "size.yaml")
    line2 = one_error(edgepose("config", "check", bad), 2, "model.size", "too many items")
    for text in (line, line2):
        assert "Value error" not in text and "(top level)" not in text and "Input should be" not in text


def test_profile_messages_speak_plainly(tmp_path):
    path = _yaml(tmp_path, "name: x\ninput: {name: a, layout: NHWC, color: RGB, scale: 1, offset: 0, size: [288], "
                 "resize: letterbox}\noutputs: {layout: NHWC, heatmap: {name: h, stride: 8}, paf: {name: p, stride: 2}}\n"
                 "limbs: [[neck, r_hip, 0, 1], [neck, foo, 2, 3], [neck, r_hip, 0, 1], [neck, l_hip, 2, 3]]\n"
                 "decode: {}\n", "p.yaml")
    r = edgepose("profile", "show", path)
    assert r.returncode == 2 and "Traceback" not in r.stderr
    assert "p.yaml: input.size: too few items" in r.stderr and "limbs: limb 1: unknown keypoint 'foo'" in r.stderr
    for bad in ("Value error", "Input should be", "[['neck'", "Field required"):
        assert bad not in r.stderr, r.stderr


# -- 4. one line instead of a traceback -------------------------------------------------------------
@pytest.mark.parametrize("cmd, size", [
    (["infer", "x.jpg"], "abc"),
    (["prepare", "m.onnx", "--profile", "tao-bpnet", "--out", "o.onnx"], "0x0"),
    (["quantize", "m.onnx", "--profile", "tao-bpnet", "--calib", "c", "--out", "o.onnx"], "abc"),
    (["build", "m.onnx", "--profile", "tao-bpnet"], "0x0"),
])
def test_bad_size_is_a_usage_error(tmp_path, cmd, size):
    one_error(edgepose(*(cmd + ["--size", size]), cwd=tmp_path), 2, "--size", "expected HxW")


def _outputs(work):
    img, clip, synth = work / "photos" / "p0.jpg", work / "clip.mp4", work / "synth"
    bad = work / "afile"
    return [
        ("--json", ["infer", img, "--json", bad / "r.json"]),
        ("--draw", ["infer", img, "--draw", bad]),
        ("--record", ["run", clip, "--record", bad / "poses.jsonl"]),
        ("--events", ["run", clip, "--events", bad / "events.jsonl"]),
        ("--out", ["run", clip, "--out", bad / "a.mp4"]),
        ("--out", ["synth", "images", "--count", 1, "--out", bad]),
        ("--out", ["synth", "clip", "--out", bad / "c.mp4"]),
        ("--out", ["prepare", BUNDLED, "--profile", "edgepose-demo", "--out", bad / "p.onnx"]),
        ("--out", ["quantize", BUNDLED, "--profile", "edgepose-demo", "--calib", synth, "--out", bad / "q.onnx"]),
        ("--out", ["build", BUNDLED, "--profile", "edgepose-demo", "--out", bad]),
        ("--json", ["eval", "--coco", synth / "annotations.json", "--images", synth, "--json", bad / "m.json"]),
        ("--events", ["replay", work / "clip.jsonl", "--events", bad / "e.jsonl"]),
        ("--out", ["calib", "collect", synth, "--out", bad]),
    ]


@pytest.mark.parametrize("index", range(13))
def test_unwritable_output_is_refused_before_the_work(work, index):
    flag, cmd = _outputs(work)[index]
    r = edgepose(*cmd)
    one_error(r, 1, flag, "afile")
    assert r.stdout == "", "work was done before the output was checked: " + r.stdout


def test_model_given_as_profile_is_one_line(work):
    one_error(edgepose("infer", work / "photos", "--profile", BUNDLED), 2, "not a YAML text file", "--model")


def test_replay_of_a_video_is_one_line(work):
    one_error(edgepose("replay", work / "clip.mp4"), 1, "clip.mp4", "not a pose recording")


def test_reader_that_goes_away_ends_quietly():
    r, w = os.pipe()
    os.close(r)                                    # as `edgepose config example | head -0`
    try:
        p = subprocess.run([sys.executable, "-m", "edgepose", "config", "example"], stdout=w,
                           stderr=subprocess.PIPE, text=True, env=dict(os.environ, PYTHONPATH=ROOT))
    finally:
        os.close(w)
    assert p.returncode == 141 and p.stderr == "", p.stderr


# -- 5. unreadable inputs and exit codes ------------------------------------------------------------
def test_run_on_an_unreadable_image_fails(work):
    one_error(edgepose("run", work / "broken.jpg"), 1, "broken.jpg", "could be read")


def test_infer_folder_skips_the_unreadable_one_and_writes_the_rest(work, tmp_path):
    d = tmp_path / "mixed"
    d.mkdir()
    shutil.copy(str(work / "photos" / "p0.jpg"), str(d / "a.jpg"))
    shutil.copy(str(work / "broken.jpg"), str(d / "b.jpg"))
    r = ok(edgepose("infer", d, "--json", tmp_path / "r.json"))
    assert "b.jpg" in r.stderr and "skipped" in r.stderr
    data = json.loads((tmp_path / "r.json").read_text())
    assert [im["path"] for im in data["images"]] == [str(d / "a.jpg")]
    assert [s["path"] for s in data["skipped"]] == [str(d / "b.jpg")]
    r = ok(edgepose("run", d, "--json"))                 # run skips it the same way
    assert json.loads(r.stdout)["stats"]["frames"] == 1


def test_infer_with_nothing_readable_fails(work):
    one_error(edgepose("infer", work / "broken.jpg"), 1, "none of the 1 image(s) could be read")


# -- 6. an empty model file -------------------------------------------------------------------------
@pytest.mark.parametrize("cmd", [["inspect", "{m}"], ["infer", "{img}", "--model", "{m}"]])
def test_empty_onnx_is_named_as_such(work, cmd):
    args = [c.format(m=work / "empty.onnx", img=work / "photos" / "p0.jpg") for c in cmd]
    one_error(edgepose(*args), 1, "empty.onnx", "empty")


# -- 7. verbosity and machine-readable output -------------------------------------------------------
def test_quiet_and_verbose_after_the_subcommand(work):
    img = work / "synth"
    assert "INFO" in ok(edgepose("infer", img)).stderr
    assert "INFO" not in ok(edgepose("infer", img, "-q")).stderr
    assert "INFO" not in ok(edgepose("-q", "infer", img)).stderr
    assert "DEBUG" in ok(edgepose("infer", img, "-vv")).stderr


def test_opencv_and_ffmpeg_chatter_is_quiet(tmp_path):
    bad = tmp_path / "fake.mp4"
    bad.write_bytes(os.urandom(4000))
    r = edgepose("run", bad, "--model", BUNDLED)
    one_error(r, 1, "fake.mp4")
    assert not [line for line in r.stderr.splitlines() if line.startswith("[")], r.stderr


def test_json_outputs(work):
    doctor = json.loads(ok(edgepose("doctor", "--json")).stdout)
    assert {"tensorrt", "cuda", "cameras", "onnxruntime", "can", "report"} <= set(doctor)
    inspect = json.loads(ok(edgepose("inspect", BUNDLED, "--json")).stdout)
    assert "edgepose-demo" in inspect["matching"] and inspect["inputs"][0]["name"] == "input_1:0"
    profiles = json.loads(ok(edgepose("profile", "list", "--json")).stdout)
    assert {p["name"] for p in profiles} >= {"tao-bpnet", "tf-pose", "edgepose-demo"}
    summary = json.loads(ok(edgepose("run", work / "clip.mp4", "--max-frames", 4, "--json")).stdout)
    assert summary["stats"]["frames"] == 4 and summary["alerts"] == {} and summary["profile"] == "edgepose-demo"
