#!/usr/bin/env python3
"""Device self-test, runnable from a checkout with the system Python of a Jetson (no pip, no registry):

    python3 tools/device_check.py               # CUDA items, then TensorRT engine items
    python3 tools/device_check.py --cuda-only   # buffers, contexts, threads: CUDA only, no TensorRT

Same as ``edgepose doctor --selftest``. One PASS/FAIL/SKIP line per item; exit status 1 when any
item failed. See edgepose/selftest/ for what each item checks.
"""
import logging
import os
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
if ROOT not in sys.path:
    sys.path.insert(0, ROOT)          # the checkout's edgepose, installed or not

from edgepose.selftest import main  # noqa: E402

if __name__ == "__main__":
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    sys.exit(main())
