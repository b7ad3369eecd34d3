"""Progress of the long engine jobs (edgepose.progress: tqdm on a terminal, log lines elsewhere): calibration
image collection, calibration batches (TensorRT's calibrator and `edgepose quantize` read them), the build
(TensorRT 10+ phases through IProgressMonitor; 8.x an elapsed-time ticker)."""
import logging

import pytest

from edgepose import progress as prog
from edgepose.onnxprep import prepare
from fakes import fake_pycuda, fake_tensorrt
from tiny_bpnet import make_images, make_tiny_bpnet

SIZE = (64, 96)


class Recorder:
    """Stands in for a progress bar: records what the job reports."""

    def __init__(self, total, desc, unit="it", logger=None, every_s=5.0):
        self.total, self.desc, self.unit, self.n, self.closed, self.postfix = total, desc, unit, 0, False, ""
        BARS.append(self)

    def update(self, n=1):
        self.n += n

    def set_postfix_str(self, text):
        self.postfix = text

    def close(self):
        self.closed = True

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()


BARS = []


@pytest.fixture
def bars(monkeypatch):
    del BARS[:]
    monkeypatch.setattr(prog, "progress", Recorder)
    return BARS


@pytest.fixture(scope="module")
def model(tmp_path_factory):
    d = tmp_path_factory.mktemp("p")
    out = str(d / "m.onnx")
    prepare(make_tiny_bpnet(d / "tiny.onnx", size=SIZE), out, "tao-bpnet", size=SIZE, batch="1")
    images = str(d / "calib")
    make_images(images, count=4)
    return out, images


def test_calibration_batches_report_progress(bars, model):
    from edgepose.engine.calibrator import CalibrationSet

    cs = CalibrationSet(model[1], "tao-bpnet", size=SIZE, batch_size=2)
    assert len(list(cs.batches())) == 2
    assert [(b.total, b.n, b.unit, b.closed) for b in bars] == [(2, 2, "batch", True)]
    assert bars[0].desc == "calibrating (4 images)"


def test_quantize_reports_its_calibration(bars, model, tmp_path):
    from edgepose.engine.quantize import quantize

    quantize(model[0], str(tmp_path / "q.onnx"), "tao-bpnet", model[1], method="minmax")
    assert bars and all(b.closed and b.n == b.total == 4 for b in bars)


def test_calib_collect_reports_images(bars, model, tmp_path):
    from edgepose.engine.calibset import collect

    rep = collect(model[1], str(tmp_path / "out"), count=3)
    assert rep["written"] == 3
    assert [(b.total, b.n, b.unit, b.closed) for b in bars] == [(3, 3, "image", True)]
    assert "frames read" in bars[0].postfix


@pytest.fixture
def fakes(monkeypatch):
    from edgepose.backends import cudalib, gpubuffers

    def install(version):
        trt = fake_tensorrt.install(monkeypatch, version)
        fake_pycuda.install(monkeypatch)
        monkeypatch.setattr(cudalib, "_LOADED", {})
        monkeypatch.setattr(gpubuffers.GpuDevice, "_devices", {})
        return trt

    return install


def test_build_shows_tensorrt_phases_on_10(bars, fakes, model, tmp_path, caplog):
    from edgepose.engine.builder import BuildOptions, build_engine

    trt = fakes("10.3.0")
    caplog.set_level(logging.DEBUG, logger="edgepose.engine.buildprogress")
    build_engine(model[0], "tao-bpnet", BuildOptions(precision="fp16", out_dir=str(tmp_path)))
    assert "progress monitor driven" in trt.calls                  # the build was not cancelled
    assert [(b.desc, b.total, b.n, b.closed) for b in bars] == [("TensorRT: Building engine", 3, 3, True)]
    assert "Tactic selection (in Building engine): 2 steps" in caplog.text     # nested: a debug line


def test_build_ticks_elapsed_time_on_8(bars, fakes, model, tmp_path, monkeypatch):
    import time

    from edgepose.engine import buildprogress
    from edgepose.engine.builder import BuildOptions, build_engine

    trt = fakes("8.5.2")
    real = trt.Builder.build_serialized_network

    def slow(self, network, config):
        time.sleep(0.25)
        return real(self, network, config)

    monkeypatch.setattr(trt.Builder, "build_serialized_network", slow)
    real_cm = buildprogress.build_progress
    monkeypatch.setattr("edgepose.engine.builder.build_progress",
                        lambda trt, config: real_cm(trt, config, every_s=0.05))
    build_engine(model[0], "tao-bpnet", BuildOptions(precision="fp16", out_dir=str(tmp_path)))
    assert len(bars) == 1 and bars[0].total is None and bars[0].unit == "s" and bars[0].closed
    assert bars[0].n >= 0.1 and "8.5.2 reports no steps" in bars[0].desc


def test_a_failing_display_never_breaks_the_build(fakes, model, tmp_path, monkeypatch):
    from edgepose.engine.builder import BuildOptions, build_engine

    def broken(*a, **k):
        raise RuntimeError("terminal gone")

    monkeypatch.setattr(prog, "progress", broken)
    trt = fakes("10.3.0")
    build_engine(model[0], "tao-bpnet", BuildOptions(precision="fp16", out_dir=str(tmp_path)))
    assert "progress monitor driven" in trt.calls
