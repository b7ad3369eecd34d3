"""Synthetic people: posed 3D bodies drawn in rooms, with exact keypoint ground truth.

- ``render_scene(seed, size)``: one still scene -> ``SynthScene`` (image, keypoints, boxes);
- ``SCENARIOS`` / ``generate_sequence(name, seed, fps, size)``: labelled activity sequences (falls
  included), poses only; ``render_sequence(seq)`` draws them; ``write_clip`` writes mp4 + JSONL;
- ``write_images``: a COCO keypoint image set.

These are figures, not photographs of people: a model trained on them recognises synthetic figures.
OpenCV is needed for drawing.
"""
from .clip import render_sequence, write_clip
from .dataset import write_images
from .motion import ACTIVITIES
from .scene import SynthScene, render_scene
from .sequences import SCENARIOS, Scenario, Sequence, generate_sequence

__all__ = ["ACTIVITIES", "SCENARIOS", "Scenario", "Sequence", "SynthScene", "generate_sequence", "render_scene",
           "render_sequence", "write_clip", "write_images"]
