"""Drawing a generated sequence, and writing it as a video plus a JSONL of ground truth."""
import json
import logging
import os

import numpy as np

from .. import deps
from ..atomic import atomic_open, write_atomic
from ..errors import SourceError
from ..progress import progress
from .provenance import truth_path
from .scene import Actor, render_world

log = logging.getLogger(__name__)


def render_sequence(seq, seed=None, effects=True):
    """Yield one BGR uint8 image per frame of ``seq`` (the scripted people in its room).

    seed: varies the sensor noise from frame to frame and the lighting over time (steady, drifting,
    or a switch to grayscale night mode part-way; default: the sequence's seed); effects: False
    draws clean, steadily lit frames (no noise, blur or lighting gradient).
    """
    for _, scene in render_frames(seq, seed=seed, effects=effects):
        yield scene.image


def render_frames(seq, frames=None, seed=None, effects=True):
    """Yield ``(frame index, SynthScene)`` for the frames ``frames`` of ``seq`` (default: all, in order).

    Each image is the one ``render_sequence`` draws for that frame (same seed, same effects), so a
    few frames of a long sequence cost a few drawings. The scene's ground truth comes from the
    drawing (visibility v = 1 occluded / 2 visible, boxes, visible areas); its ``kinds`` hold each
    person's activity label at that frame (``motion.ACTIVITIES``).
    """
    world = seq.world
    fx = dict(world.effects)
    if not effects:
        fx.update(noise=0.0, blur=0, motion=0, contrast=1.0, gradient=0.0, light=1.0)
    rng = np.random.default_rng([int(seq.seed if seed is None else seed), 7])
    offsets = rng.integers(0, 512, (len(seq.poses), 2))
    # lighting over time: steady, slowly drifting, or a switch to night (IR) mode part-way
    mode = rng.choice(["steady", "drift", "night"], p=[0.6, 0.3, 0.1]) if effects else "steady"
    amp, period, phase = rng.uniform(0.08, 0.2), rng.uniform(4.0, 12.0), rng.uniform(0, 2 * np.pi)
    t_switch = rng.uniform(0.3, 0.7) * len(seq.poses) / seq.fps
    base = fx["light"]
    saved = world.effects
    try:
        for i in (range(len(seq.poses)) if frames is None else frames):
            t = i / seq.fps
            fx["offset"] = (int(offsets[i, 0]), int(offsets[i, 1]))
            if mode == "drift":
                fx["light"] = base * (1.0 + amp * np.sin(2 * np.pi * t / period + phase))
            elif mode == "night":
                ir = t >= t_switch
                fx["ir"], fx["light"] = (True, 0.9) if ir else (saved["ir"], base)
            world.effects = fx
            activity = seq.frames[i].get("activity", {})
            actors = []
            for k, pose, prop in seq.poses[i]:
                tr = seq.tracks[k]
                label = activity.get(str(tr.track_id), "seq")
                actors.append(Actor(tr.body, tr.look, pose, label, prop, tr.track_id))
            yield i, render_world(world, actors)
    finally:
        world.effects = saved


def jsonl_path(video_path):
    """The ground-truth file next to a clip: same path, extension .jsonl."""
    return os.path.splitext(video_path)[0] + ".jsonl"


def write_clip(seq, path, seed=None, effects=True):
    """Write ``seq`` as an mp4 (OpenCV, mp4v) and its ground truth as JSONL (one frame per line).

    Returns (video path, jsonl path). The truth and zones go to a ``.truth.json`` beside them.
    """
    cv2 = deps.load("cv2", "edgepose synth")

    H, W = seq.size
    folder = os.path.dirname(os.path.abspath(path))
    os.makedirs(folder, exist_ok=True)
    writer = cv2.VideoWriter(path, cv2.VideoWriter_fourcc(*"mp4v"), float(seq.fps), (W, H))
    if not writer.isOpened():
        raise SourceError("cannot open %s for writing with OpenCV (mp4v): check the folder and the "
                          "OpenCV build (opencv-python-headless supports mp4v)" % path)
    try:
        with progress(len(seq.frames), "rendering %s" % os.path.basename(path), unit="frame", logger=log) as bar:
            for image in render_sequence(seq, seed=seed, effects=effects):
                writer.write(image)
                bar.update()
    finally:
        writer.release()
    gt = jsonl_path(path)
    with atomic_open(gt) as f:
        for fr in seq.frames:
            f.write(json.dumps(fr, separators=(",", ":")) + "\n")
    meta = truth_path(path)
    write_atomic(meta, json.dumps({"scenario": seq.scenario, "seed": seq.seed, "fps": seq.fps, "width": W,
                                   "height": H, "frames": len(seq.frames), "truth": seq.truth,
                                   "zones": seq.zones}, indent=1))
    return path, gt
