"""Training targets for BPNet-Lite: Gaussian keypoint heatmaps + background, and PAF bands (numpy).

The renderer lives in the package, ``edgepose.synth.targets`` (conventions in its docstring), and is
shared with the decoder tests' maps and ``edgepose eval --oracle``; this module keeps the names the
training scripts import: ``grid``, ``render_heatmaps``, ``render_pafs``, ``flip_keypoints``.
"""
import os
import sys

_ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
if _ROOT not in sys.path:
    sys.path.insert(0, _ROOT)

from edgepose.synth.targets import flip_keypoints, grid, render_heatmaps, render_pafs  # noqa: E402

__all__ = ["grid", "render_heatmaps", "render_pafs", "flip_keypoints"]
