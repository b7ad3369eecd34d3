"""Image datasets on disk: rendered images plus a COCO keypoint annotation file.

Two kinds: still scenes (``write_images``: random rooms, 0..6 people in any pose family) and frames of
the scenario clips (``write_scenario_frames``: the demo's world, a few frames of each generated
sequence, every scenario in turn).

The category has the 18 BodyPoseNet keypoints (neck included) in ``topology.KEYPOINTS`` order and
its skeleton (1-based, as COCO writes it). Keypoint coordinates keep the edgepose convention (pixel
centres at integers); v follows COCO (0 not labelled, x = y = 0; 1 occluded; 2 visible). Each
annotation also carries ``activity`` (a still scene's pose family, ``poses.KINDS``, or a clip's activity
label, ``motion.ACTIVITIES``) and ``posture`` (``POSTURES``: what ``edgepose eval`` breaks recall down by).
"""
import json
import logging
import os

import numpy as np

from .. import deps
from ..atomic import write_atomic
from ..errors import OutputError
from ..progress import progress
from ..topology import KEYPOINTS, SKELETON
from .provenance import DATASET_DESCRIPTION
from .scene import render_scene

log = logging.getLogger(__name__)

POSTURES = ("upright", "sitting", "lying")
# pose family (still scenes) or activity label (clips) -> posture. "sitting" covers every folded
# posture between upright and lying (sitting on a chair or the floor, crouching, kneeling, bending
# over, sitting down and standing up); "lying" covers lying, lying down, falling, fallen and getting up.
POSTURE = {
    "stand": "upright", "walk": "upright", "reach": "upright",
    "sit_chair": "sitting", "sit_floor": "sitting", "bend": "sitting", "crouch": "sitting", "kneel": "sitting",
    "lie": "lying", "fall": "lying",
    "standing": "upright", "walking": "upright",
    "sitting_down": "sitting", "sitting": "sitting", "standing_up": "sitting", "bending": "sitting",
    "crouching": "sitting",
    "lying_down": "lying", "lying": "lying", "falling": "lying", "fallen": "lying", "getting_up": "lying",
}
# held-out frames of the scenario clips: sequence seeds from here up are never used for training
HELD_OUT_SEED = 950_000_000


def coco_category():
    return {"id": 1, "name": "person", "supercategory": "person", "keypoints": list(KEYPOINTS),
            "skeleton": [[a + 1, b + 1] for a, b in SKELETON]}


def scene_annotations(scene, image_id, first_id):
    """COCO annotation dicts for one ``SynthScene``; ids from ``first_id``."""
    anns = []
    for k in range(len(scene)):
        flat = []
        for x, y, v in scene.keypoints[k].tolist():
            if v > 0:
                flat += [round(x, 2), round(y, 2), int(v)]
            else:
                flat += [0, 0, 0]
        x0, y0, x1, y1 = scene.boxes[k].tolist()
        bbox = [x0 - 0.5, y0 - 0.5, x1 - x0 + 1.0, y1 - y0 + 1.0]  # pixel extents around the centres
        area = float(scene.areas[k]) if scene.areas is not None else bbox[2] * bbox[3]
        ann = {"id": first_id + k, "image_id": image_id, "category_id": 1, "keypoints": flat,
               "num_keypoints": int((scene.keypoints[k, :, 2] > 0).sum()), "bbox": bbox,
               "area": area, "iscrowd": 0}
        if k < len(scene.kinds) and scene.kinds[k] in POSTURE:
            ann.update(activity=scene.kinds[k], posture=POSTURE[scene.kinds[k]])
        anns.append(ann)
    return anns


def write_images(out_dir, count, seed, size=(288, 384), ext="jpg", **options):
    """Render ``count`` scenes (image ``i`` uses seed ``[seed, i]``) into ``out_dir`` with
    ``annotations.json``; returns the annotation file path."""
    info = {"description": DATASET_DESCRIPTION, "seed": int(seed), "count": int(count)}
    scenes = (render_scene([int(seed), i], size=size, **options) for i in range(count))
    return _write(out_dir, scenes, count, ext, info)


def write_scenario_frames(out_dir, count, seed=HELD_OUT_SEED, size=(288, 384), ext="jpg", per_clip=4, fps=15.0,
                          effects=True):
    """Render ``count`` frames of the scenario clips into ``out_dir`` with ``annotations.json``.

    Sequence ``j`` is scenario ``SCENARIOS[j % S]`` (S scenarios, in their listed order) with seed
    ``seed + j // S``; ``per_clip`` of its frames with somebody in view are drawn, picked at random
    (seeded) over the whole clip. Images carry ``scenario``, ``sequence_seed``, ``frame`` and ``t``;
    annotations the activity label and posture. Returns the annotation file path.
    """
    from .clip import render_frames
    from .sequences import SCENARIOS, generate_sequence

    if per_clip < 1:
        raise ValueError("per_clip must be >= 1, got %r" % per_clip)
    names = list(SCENARIOS)
    meta = []

    def frames():
        left, j = count, 0
        while left > 0:
            name, sseed = names[j % len(names)], int(seed) + j // len(names)
            j += 1
            seq = generate_sequence(name, sseed, fps=fps, size=size)
            seen = [i for i, fr in enumerate(seq.frames) if fr["people"]]
            rng = np.random.default_rng([sseed, sum(map(ord, name)), 23])
            pick = sorted(rng.choice(len(seen), size=min(per_clip, len(seen), left), replace=False).tolist())
            for i, scene in render_frames(seq, [seen[p] for p in pick], effects=effects):
                meta.append({"scenario": name, "sequence_seed": sseed, "frame": i, "t": seq.frames[i]["t"]})
                left -= 1
                yield scene

    info = {"description": DATASET_DESCRIPTION + ": frames of the scenario clips", "seed": int(seed),
            "count": int(count), "per_clip": int(per_clip), "fps": float(fps)}
    return _write(out_dir, frames(), count, ext, info, meta)


def _write(out_dir, scenes, count, ext, info, meta=None):
    """Write the ``scenes`` (an iterable of ``SynthScene``) as images + ``annotations.json``."""
    cv2 = deps.load("cv2", "edgepose synth")

    os.makedirs(out_dir, exist_ok=True)
    images, anns = [], []
    params = [cv2.IMWRITE_JPEG_QUALITY, 95] if ext in ("jpg", "jpeg") else []
    with progress(count, "rendering images", unit="image", logger=log) as bar:
        for i, scene in enumerate(scenes):
            name = "%06d.%s" % (i, ext)
            path = os.path.join(out_dir, name)
            if not cv2.imwrite(path, scene.image, params):
                raise OutputError("%s: cannot write the image (check the folder and the free space)" % path)
            h, w = scene.image.shape[:2]
            images.append({"id": i + 1, "file_name": name, "width": int(w), "height": int(h)})
            if meta:
                images[-1].update(meta[i])
            anns += scene_annotations(scene, i + 1, len(anns) + 1)
            bar.set_postfix_str("%d people" % len(anns))
            bar.update()
    coco = {"info": info, "images": images, "annotations": anns, "categories": [coco_category()]}
    path = os.path.join(out_dir, "annotations.json")
    write_atomic(path, json.dumps(coco))
    return path
