"""edgepose doctor: never crashes, says what is missing, never creates a TensorRT runtime without a GPU."""
import sys

import pytest

from edgepose.cli import main
from edgepose.commands import doctor
from fakes import fake_cuda_python


@pytest.fixture(autouse=True)
def no_cuda_python(monkeypatch):
    fake_cuda_python.block(monkeypatch)


def test_doctor_without_tensorrt_says_so(monkeypatch, capsys):
    monkeypatch.setitem(sys.modules, "tensorrt", None)
    monkeypatch.setitem(sys.modules, "pycuda", None)
    monkeypatch.setitem(sys.modules, "pycuda.driver", None)
    assert main(["doctor"]) == 0
    out = capsys.readouterr().out
    assert "TensorRT: missing" in out and "JetPack" in out
    assert "pycuda: not usable" in out
    assert "OpenCV" in out and "GStreamer" in out and "cameras:" in out
    assert "NOT build or run TensorRT engines here (TensorRT is missing)" in out


def test_doctor_with_fake_tensorrt_and_gpu(monkeypatch):
    from fakes import fake_pycuda, fake_tensorrt

    fake_tensorrt.install(monkeypatch, "10.3.0", dla_cores=2)
    fake_pycuda.install(monkeypatch)
    lines, summary = doctor.diagnose()
    text = "\n".join(lines)
    assert summary["tensorrt"] == "10.3.0" and summary["cuda"] and summary["dla_cores"] == 2
    assert "weakly-typed" in text and "GPU 0: Orin (compute capability 8.7" in text
    assert summary["cuda_library"] == "pycuda" and "cuda-python: not usable" in text
    assert "build DLA engines (--dla 0..1)" in text


def test_doctor_trt11_and_no_gpu_never_creates_a_builder(monkeypatch):
    from fakes import fake_tensorrt

    trt = fake_tensorrt.install(monkeypatch, "11.4.0")
    monkeypatch.setitem(sys.modules, "pycuda", None)
    monkeypatch.setitem(sys.modules, "pycuda.driver", None)
    lines, summary = doctor.diagnose()
    assert "Builder" not in trt.calls and summary["dla_cores"] is None
    assert any("strongly-typed" in line for line in lines)
    assert any("no usable CUDA device" in line for line in lines)


def test_doctor_names_cuda_python_when_pycuda_is_missing(monkeypatch):
    from fakes import fake_tensorrt

    fake_tensorrt.install(monkeypatch, "10.3.0")
    fake_cuda_python.install(monkeypatch)
    monkeypatch.setitem(sys.modules, "pycuda", None)
    monkeypatch.setitem(sys.modules, "pycuda.driver", None)
    lines, summary = doctor.diagnose()
    assert summary["cuda_library"] == "cuda-python" and summary["cuda"]
    assert any("TensorRT buffers use: cuda-python" in line for line in lines)
