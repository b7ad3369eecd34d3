"""Still-scene datasets on disk: rendered images plus a COCO keypoint annotation file.

The category has the 18 BodyPoseNet keypoints (neck included) in ``topology.KEYPOINTS`` order and
its skeleton (1-based, as COCO writes it). Keypoint coordinates keep the edgepose convention (pixel
centres at integers); v follows COCO (0 not labelled, x = y = 0; 1 occluded; 2 visible).
"""
import json
import logging
import os

from .. import deps
from ..atomic import write_atomic
from ..errors import OutputError
from ..progress import progress
from ..topology import KEYPOINTS, SKELETON
from .provenance import DATASET_DESCRIPTION
from .scene import render_scene

log = logging.getLogger(__name__)


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
        anns.append({"id": first_id + k, "image_id": image_id, "category_id": 1, "keypoints": flat,
                     "num_keypoints": int((scene.keypoints[k, :, 2] > 0).sum()), "bbox": bbox,
                     "area": area, "iscrowd": 0})
    return anns


def write_images(out_dir, count, seed, size=(288, 384), ext="jpg", **options):
    """Render ``count`` scenes (image ``i`` uses seed ``[seed, i]``) into ``out_dir`` with
    ``annotations.json``; returns the annotation file path."""
    cv2 = deps.load("cv2", "edgepose synth")

    os.makedirs(out_dir, exist_ok=True)
    images, anns = [], []
    params = [cv2.IMWRITE_JPEG_QUALITY, 95] if ext in ("jpg", "jpeg") else []
    with progress(count, "rendering images", unit="image", logger=log) as bar:
        for i in range(count):
            scene = render_scene([int(seed), i], size=size, **options)
            name = "%06d.%s" % (i, ext)
            path = os.path.join(out_dir, name)
            if not cv2.imwrite(path, scene.image, params):
                raise OutputError("%s: cannot write the image (check the folder and the free space)" % path)
            images.append({"id": i + 1, "file_name": name, "width": int(size[1]), "height": int(size[0])})
            anns += scene_annotations(scene, i + 1, len(anns) + 1)
            bar.set_postfix_str("%d people" % len(anns))
            bar.update()
    coco = {"info": {"description": DATASET_DESCRIPTION, "seed": int(seed), "count": int(count)},
            "images": images, "annotations": anns, "categories": [coco_category()]}
    path = os.path.join(out_dir, "annotations.json")
    write_atomic(path, json.dumps(coco))
    return path
