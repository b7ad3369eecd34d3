"""The backend protocol shared by ONNX Runtime and TensorRT.

A backend has explicit lifecycle (``activate``/``deactivate``, or use it as a context manager),
describes its I/O (``inputs``/``outputs``: lists of ``TensorInfo``) and runs ``infer(batch)`` where
``batch`` maps the input name to an array shaped as the profile says (``(N, H, W, 3)`` for NHWC) and
the result maps every output name to an array with the batch dimension first. The loop cannot tell
backends apart. GPU memory is never freed in ``__del__``: call ``deactivate``.
"""
from dataclasses import dataclass
from typing import Dict, List, Tuple, Union

import numpy as np

from ..errors import InputError


@dataclass(frozen=True)
class TensorInfo:
    """name, shape (ints, or None/str for dynamic dimensions), numpy dtype."""

    name: str
    shape: Tuple[Union[int, str, None], ...]
    dtype: np.dtype


def check_input_dtype(where, name, x, want):
    """InputError when ``x`` is uint8 frames and the model takes float input, or the other way round: a
    silent conversion would feed 0..255 to a model that expects normalised values (or truncate them)."""
    want = np.dtype(want)
    if (want == np.uint8) != (x.dtype == np.uint8):
        raise InputError("%s: input %s takes %s, got %s: %s" % (
            where, name, want.name, x.dtype.name,
            "the model normalises uint8 frames itself, run it with the profile it was prepared with (a -u8 one)"
            if want == np.uint8 else "a float model needs its float profile, not a -u8 one"))


class Backend:
    """Base class; subclasses implement ``_activate``, ``_infer``, ``_deactivate``."""

    name = "base"
    inputs: List[TensorInfo] = []
    outputs: List[TensorInfo] = []

    def __init__(self):
        self.active = False

    def activate(self):
        if not self.active:
            self._activate()
            self.active = True
        return self

    def deactivate(self):
        if self.active:
            self._deactivate()
            self.active = False

    def __enter__(self):
        return self.activate()

    def __exit__(self, *exc):
        self.deactivate()

    def infer(self, batch: Dict[str, np.ndarray]) -> Dict[str, np.ndarray]:
        if not self.active:
            self.activate()
        return self._infer(batch)

    def _activate(self):
        raise NotImplementedError

    def _infer(self, batch):
        raise NotImplementedError

    def _deactivate(self):
        pass

    def describe(self):
        """Multi-line text of the backend's inputs and outputs."""
        lines = ["backend: %s" % self.name]
        for kind, infos in (("input", self.inputs), ("output", self.outputs)):
            for t in infos:
                lines.append("  %-6s %-40s %-24s %s" % (kind, t.name, list(t.shape), np.dtype(t.dtype).name))
        return "\n".join(lines)
