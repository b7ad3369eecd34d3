"""The device self-test: ``python3 tools/device_check.py`` or ``edgepose doctor --selftest``.

Runs with what a device has (numpy, the CUDA library, TensorRT from JetPack): no pip, no registry,
no ONNX Runtime, no pydantic. Prints one line per item, ``PASS``/``FAIL``/``SKIP``, the library
and the item, and a detail; exits 1 when any item failed, 0 otherwise (SKIPs are not failures:
a machine without a GPU skips every item cleanly).

- ``--cuda-only``: buffers, contexts, threads (``cuda_checks``), needs only a CUDA driver and
  pycuda and/or cuda-python; runs each installed library in turn.
- default: the CUDA items, then the TensorRT items (``trt_checks``): engines of the bundled model built
  here in fp32 (TF32 off), fp16 and INT8 (calibration on committed images, and a committed Q/DQ model),
  compared with golden outputs from ONNX Runtime (``golden``), people decoded, dynamic and fixed
  batches, activate/deactivate across threads, two engines at once, DLA when present, and the p50 of
  one frame's H2D + execute + D2H.
"""
import argparse
import sys
import time

STATUSES = ("PASS", "FAIL", "SKIP")


class Report:
    """Collects items and prints each as it comes (flushes: a hung GPU call still shows progress)."""

    def __init__(self, stream=None):
        self.stream = stream or sys.stdout
        self.items = []
        self.t0 = time.monotonic()

    def add(self, status, lib, item, detail=""):
        if status not in STATUSES:
            raise ValueError("status must be one of %s" % (STATUSES,))
        self.items.append((status, lib, item, detail))
        self.stream.write("%-4s  %-11s  %-26s  %s\n" % (status, lib, item, detail))
        self.stream.flush()

    def note(self, text):
        self.stream.write("      %s\n" % text)
        self.stream.flush()

    def run(self, lib, item, fn, *args):
        """Run ``fn(*args) -> detail``; an exception makes the item FAIL (``Skip`` makes it SKIP)."""
        try:
            detail = fn(*args)
        except Skip as e:
            self.add("SKIP", lib, item, str(e))
            return None
        except Exception as e:
            text = str(e).strip().splitlines()
            self.add("FAIL", lib, item, "%s: %s" % (type(e).__name__, text[0] if text else ""))
            return False
        self.add("PASS", lib, item, detail or "")
        return True

    def counts(self):
        return {s: sum(1 for i in self.items if i[0] == s) for s in STATUSES}

    @property
    def failed(self):
        return self.counts()["FAIL"] > 0

    def summary(self):
        c = self.counts()
        return "%d passed, %d failed, %d skipped in %.1f s" % (c["PASS"], c["FAIL"], c["SKIP"],
                                                                time.monotonic() - self.t0)


class Skip(Exception):
    """Raised by a check that cannot run here (no GPU, library missing): the item is SKIPped."""


def add_arguments(p):
    p.add_argument("--cuda-only", action="store_true",
                   help="only the CUDA items (buffers, contexts, threads): no TensorRT needed")
    p.add_argument("--library", choices=("pycuda", "cuda-python"), action="append",
                   help="check only this CUDA library (repeatable; default: every installed one)")
    p.add_argument("--device", type=int, default=0, help="CUDA device index (default 0)")


def run(args, stream=None):
    """Run the self-test for parsed ``args``; returns the exit code."""
    from . import cuda_checks

    report = Report(stream)
    libs = args.library or list(cuda_checks.LIBRARIES)
    cuda_checks.run_all(report, libs, args.device)
    if not args.cuda_only:
        from . import trt_checks

        trt_checks.run_all(report, libs, args.device)
    report.stream.write(report.summary() + "\n")
    return 1 if report.failed else 0


def main(argv=None):
    p = argparse.ArgumentParser(prog="device_check", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    add_arguments(p)
    return run(p.parse_args(argv))
