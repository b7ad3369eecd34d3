"""COCO person-keypoint files: reading them (any 17- or 18-keypoint file) and making them from synthetic scenes.

Besides COCO's fields, each annotation may carry ``posture`` (``upright``, ``sitting``, ``lying``: what
``edgepose synth images`` writes); ``eval`` breaks recall down by it.
"""
import json
from collections import namedtuple

import numpy as np

from ..errors import InputError
from ..topology import COCO17, COCO17_FROM_BPNET, KEYPOINTS, NUM_KEYPOINTS, OKS_SIGMAS

Detection = namedtuple("Detection", "image_id keypoints score")

_ALIASES = {"left_": "l_", "right_": "r_"}


def _norm_name(name):
    n = str(name).strip().lower()
    for a, b in _ALIASES.items():
        if n.startswith(a):
            n = b + n[len(a):]
    return n


class CocoKeypoints:
    """A COCO person-keypoint annotation file: images, people per image, and the keypoint layout.

    ``index``: for each of the file's K keypoints, its channel in edgepose's 18-keypoint order;
    ``sigmas``: the K OKS sigmas.
    """

    def __init__(self, data, source="<dict>"):
        self.source = source
        try:
            cats = [c for c in data["categories"] if c.get("keypoints")]
            if not cats:
                raise KeyError("categories[].keypoints")
            cat = next((c for c in cats if c.get("name") == "person"), cats[0])
            self.category_id = cat["id"]
            names = [_norm_name(n) for n in cat["keypoints"]]
            self.images = {int(im["id"]): im for im in data["images"]}
            anns = [a for a in data.get("annotations", []) if a.get("category_id", self.category_id) == self.category_id]
        except (KeyError, TypeError) as e:
            raise InputError("%s: not a COCO keypoint annotation file (missing %s); expected images, "
                             "annotations and categories[].keypoints" % (source, e))
        if all(n in KEYPOINTS for n in names):
            self.index = np.array([KEYPOINTS.index(n) for n in names], dtype=np.int64)
        elif len(names) == len(COCO17):
            self.index = COCO17_FROM_BPNET.copy()
        elif len(names) == NUM_KEYPOINTS:
            self.index = np.arange(NUM_KEYPOINTS)
        else:
            raise InputError("%s: categories[].keypoints has %d names %s; expected the 17 COCO or the 18 "
                             "BodyPoseNet keypoints" % (source, len(names), names[:4]))
        self.num_keypoints = len(self.index)
        self.sigmas = OKS_SIGMAS[self.index]
        self.gts = {i: [] for i in self.images}
        for a in anns:
            iid = int(a["image_id"])
            if iid not in self.gts:
                continue
            kps = np.asarray(a.get("keypoints") or [0] * (3 * self.num_keypoints), dtype=np.float64)
            if kps.size != 3 * self.num_keypoints:
                raise InputError("%s: annotation %s has %d keypoint values, expected %d"
                                 % (source, a.get("id"), kps.size, 3 * self.num_keypoints))
            kps = kps.reshape(-1, 3)
            bbox = np.asarray(a.get("bbox") or [0, 0, 0, 0], dtype=np.float64)
            area = float(a["area"]) if a.get("area") is not None else float(bbox[2] * bbox[3])
            n_kp = int(a["num_keypoints"]) if "num_keypoints" in a else int((kps[:, 2] > 0).sum())
            posture = a.get("posture")
            self.gts[iid].append({"keypoints": kps, "bbox": bbox, "area": area,
                                  "iscrowd": int(a.get("iscrowd", 0)), "num_keypoints": n_kp,
                                  "height": float(bbox[3]), "posture": str(posture) if posture else None})

    @classmethod
    def load(cls, path):
        try:
            with open(path) as f:
                data = json.load(f)
        except OSError as e:
            raise InputError("%s: cannot read the annotation file (%s)" % (path, e.strerror))
        except ValueError as e:
            raise InputError("%s: not valid JSON (%s)" % (path, e))
        return cls(data, source=path)

    def to_file_layout(self, keypoints18):
        """``(..., 18, 3)`` edgepose keypoints -> ``(..., K, 3)`` in this file's keypoint order."""
        return np.asarray(keypoints18, dtype=np.float64)[..., self.index, :]

    def truth18(self, image_id):
        """``(N, 18, 3)`` x, y, v of the image's people (not the crowd regions) in edgepose's order.

        v > 0 where the file labels the keypoint (x = y = NaN, v = 0 elsewhere). A file without a neck
        (COCO's 17 keypoints) gets the shoulders' midpoint where both are labelled, v the smaller one
        (OpenPose's convention).
        """
        people = [g["keypoints"] for g in self.gts[image_id] if not g["iscrowd"]]
        out = np.full((len(people), NUM_KEYPOINTS, 3), np.nan)
        out[..., 2] = 0
        if not people:
            return out
        kps = np.stack(people)
        kps[kps[..., 2] <= 0] = (np.nan, np.nan, 0)
        out[:, self.index] = kps
        neck, rs, ls = KEYPOINTS.index("neck"), KEYPOINTS.index("r_shoulder"), KEYPOINTS.index("l_shoulder")
        if neck not in self.index.tolist() and rs in self.index.tolist() and ls in self.index.tolist():
            both = (out[:, rs, 2] > 0) & (out[:, ls, 2] > 0)
            out[both, neck, :2] = (out[both, rs, :2] + out[both, ls, :2]) / 2.0
            out[both, neck, 2] = np.minimum(out[both, rs, 2], out[both, ls, 2])
        return out


def coco_from_scenes(scenes, names=None):
    """A COCO 18-keypoint annotation dict for rendered synthetic scenes (``edgepose.synth.SynthScene``).

    The annotations ``edgepose synth images`` writes (``edgepose.synth.dataset.scene_annotations``:
    bbox = pixel extents around the box's pixel centres, ``area`` = the visible pixel count, the
    posture); image ids 1.., ``file_name`` = ``names[i]`` or ``"%06d.png"``.
    """
    from ..synth.dataset import coco_category, scene_annotations

    data = {"images": [], "annotations": [], "categories": [coco_category()]}
    for i, scene in enumerate(scenes):
        h, w = scene.image.shape[:2]
        name = names[i] if names else "%06d.png" % (i + 1)
        data["images"].append({"id": i + 1, "file_name": name, "width": int(w), "height": int(h)})
        data["annotations"] += scene_annotations(scene, i + 1, len(data["annotations"]) + 1)
    return data
