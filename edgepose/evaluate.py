"""COCO keypoint evaluation (OKS AP/AR), written from scratch in numpy, plus running a model over a COCO set.

The metric follows the COCO keypoint challenge (pycocotools' ``COCOeval(iouType="keypoints")``):

- OKS between a detection and a ground-truth person: mean over the GT's labelled keypoints (v > 0) of
  ``exp(-d^2 / (2 * area * (2 * sigma)^2))``, ``area`` = the annotation's ``area`` field (COCO: the
  segmentation area; where a file has none, the bbox area w*h is used), sigmas = COCO's
  (``edgepose.topology.OKS_SIGMAS``; the neck borrows the shoulders' 0.079). A GT with no labelled
  keypoint is compared with the distance to its box enlarged twice (as COCO does).
- GT people with ``iscrowd`` or with no labelled keypoints are ignored: matching one is neither a
  true nor a false positive. At most ``max_dets`` (20) detections per image, by descending score.
- Greedy matching per image by descending score at each OKS threshold 0.50:0.05:0.95; AP = 101-point
  interpolated precision averaged over thresholds; AR = recall at max_dets averaged over thresholds.
  AP50/AP75 at one threshold; AP_M/AP_L for GT areas 32^2..96^2 and > 96^2.
- Per-keypoint recall (an edgepose addition): for each labelled GT keypoint of a non-ignored person,
  found when that person is matched at OKS >= 0.5 and the matched detection's keypoint lies within
  that keypoint's own OKS >= 0.5 (``exp(-d^2 / (2 area (2 sigma)^2)) >= 0.5``).

Files: 18-keypoint files (edgepose's synthetic sets: ``categories[0].keypoints`` = 18 names incl.
the neck) and standard 17-keypoint COCO person files (then the 18-keypoint predictions are scored on
the 17 COCO keypoints via ``edgepose.topology.to_coco17``). Detections are ``Detection(image_id,
keypoints (18, 3) source pixels, NaN = missing, score)``; a missing keypoint never matches.
"""
import json
import logging
import os
import time
from collections import namedtuple

import numpy as np

from . import deps
from .errors import InputError
from .progress import progress
from .topology import COCO17, COCO17_FROM_BPNET, KEYPOINTS, NUM_KEYPOINTS, OKS_SIGMAS

log = logging.getLogger(__name__)

OKS_THRESHOLDS = np.linspace(0.5, 0.95, 10)
RECALL_THRESHOLDS = np.linspace(0.0, 1.0, 101)
AREA_RANGES = {"all": (0.0, 1e10), "medium": (32.0 ** 2, 96.0 ** 2), "large": (96.0 ** 2, 1e10)}
MAX_DETS = 20

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
            self.gts[iid].append({"keypoints": kps, "bbox": bbox, "area": area,
                                  "iscrowd": int(a.get("iscrowd", 0)), "num_keypoints": n_kp})

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


def _oks_matrix(dts, gts, sigmas):
    """OKS ``(D, G)`` and per-keypoint similarity ``(D, G, K)`` of detections vs GTs of one image."""
    ious = np.zeros((len(dts), len(gts)))
    per_kp = np.zeros((len(dts), len(gts), len(sigmas)))
    if not dts or not gts:
        return ious, per_kp
    var = (2.0 * sigmas) ** 2
    d = np.stack([dt["keypoints"][:, :2] for dt in dts])  # (D, K, 2)
    for j, gt in enumerate(gts):
        g = gt["keypoints"]
        vis = g[:, 2] > 0
        if vis.any():
            dx = d[:, :, 0] - g[None, :, 0]
            dy = d[:, :, 1] - g[None, :, 1]
        else:
            x, y, w, h = gt["bbox"]
            x0, x1, y0, y1 = x - w, x + 2 * w, y - h, y + 2 * h
            dx = np.maximum(0, x0 - d[:, :, 0]) + np.maximum(0, d[:, :, 0] - x1)
            dy = np.maximum(0, y0 - d[:, :, 1]) + np.maximum(0, d[:, :, 1] - y1)
        e = (dx ** 2 + dy ** 2) / var[None] / (gt["area"] + np.spacing(1)) / 2.0
        with np.errstate(invalid="ignore"):
            sim = np.exp(-e)
        sim = np.where(np.isfinite(sim), sim, 0.0)  # missing (NaN) keypoints never match
        per_kp[:, j] = sim
        ious[:, j] = sim[:, vis].sum(axis=1) / vis.sum() if vis.any() else sim.mean(axis=1)
    return ious, per_kp


def _det_area(kps):
    ok = np.isfinite(kps[:, 0]) & np.isfinite(kps[:, 1])
    if not ok.any():
        return 0.0
    x, y = kps[ok, 0], kps[ok, 1]
    return float((x.max() - x.min()) * (y.max() - y.min()))


def _evaluate_image(dts, gts, sigmas, area_rng, max_dets):
    """Matching of one image at every OKS threshold (pycocotools' evaluateImg)."""
    gt_ignore = np.array([bool(g["iscrowd"]) or g["num_keypoints"] == 0
                          or not (area_rng[0] <= g["area"] <= area_rng[1]) for g in gts], dtype=bool)
    gorder = np.argsort(gt_ignore.astype(np.int64), kind="mergesort")
    gts = [gts[i] for i in gorder]
    gt_ignore = gt_ignore[gorder]
    crowd = np.array([g["iscrowd"] for g in gts], dtype=bool)
    dorder = np.argsort([-d["score"] for d in dts], kind="mergesort")[:max_dets]
    dts = [dts[i] for i in dorder]
    ious, per_kp = _oks_matrix(dts, gts, sigmas)
    T, D, G = len(OKS_THRESHOLDS), len(dts), len(gts)
    dtm = -np.ones((T, D), dtype=np.int64)
    gtm = -np.ones((T, G), dtype=np.int64)
    dt_ignore = np.zeros((T, D), dtype=bool)
    for t, thr in enumerate(OKS_THRESHOLDS):
        for di in range(D):
            best, m = min(thr, 1 - 1e-10), -1
            for gi in range(G):
                if gtm[t, gi] >= 0 and not crowd[gi]:
                    continue
                if m > -1 and not gt_ignore[m] and gt_ignore[gi]:
                    break
                if ious[di, gi] < best:
                    continue
                best, m = ious[di, gi], gi
            if m == -1:
                continue
            dt_ignore[t, di] = gt_ignore[m]
            dtm[t, di] = m
            gtm[t, m] = di
    det_out = np.array([not (area_rng[0] <= _det_area(d["keypoints"]) <= area_rng[1]) for d in dts], dtype=bool)
    dt_ignore |= (dtm < 0) & det_out[None, :]
    return {"scores": np.array([d["score"] for d in dts], dtype=np.float64), "dtm": dtm >= 0,
            "dt_ignore": dt_ignore, "gt_ignore": gt_ignore, "gtm": gtm, "per_kp": per_kp, "gts": gts}


def _accumulate(results):
    """AP (T,) and recall (T,) from per-image results (pycocotools' accumulate, one category/area)."""
    T, R = len(OKS_THRESHOLDS), len(RECALL_THRESHOLDS)
    ap, rec = -np.ones(T), -np.ones(T)
    results = [r for r in results if r is not None]
    if not results:
        return ap, rec
    scores = np.concatenate([r["scores"] for r in results])
    order = np.argsort(-scores, kind="mergesort")
    dtm = np.concatenate([r["dtm"] for r in results], axis=1)[:, order]
    dtig = np.concatenate([r["dt_ignore"] for r in results], axis=1)[:, order]
    npig = int(sum((~r["gt_ignore"]).sum() for r in results))
    if npig == 0:
        return ap, rec
    tps = np.cumsum(dtm & ~dtig, axis=1).astype(np.float64)
    fps = np.cumsum(~dtm & ~dtig, axis=1).astype(np.float64)
    for t in range(T):
        tp, fp = tps[t], fps[t]
        nd = len(tp)
        rc = tp / npig
        pr = tp / (fp + tp + np.spacing(1))
        rec[t] = rc[-1] if nd else 0.0
        pr = np.maximum.accumulate(pr[::-1])[::-1] if nd else pr
        q = np.zeros(R)
        idx = np.searchsorted(rc, RECALL_THRESHOLDS, side="left")
        ok = idx < nd
        q[ok] = pr[idx[ok]]
        ap[t] = q.mean()
    return ap, rec


def evaluate_file_layout(coco, detections, max_dets=MAX_DETS):
    """OKS metrics for detections already in the file's keypoint layout.

    ``detections``: iterable of ``(image_id, keypoints (K, 3), score)``; missing keypoints NaN.
    Returns a dict: AP, AP50, AP75, AP_M, AP_L, AR, AR50, AR75, per_keypoint_recall {name: value},
    images, people (non-ignored GT), detections.
    """
    dets = {i: [] for i in coco.images}
    n_dets = 0
    for image_id, kps, score in detections:
        iid = int(image_id)
        if iid not in dets:
            raise InputError("%s: detection for image id %s which is not in the annotation file" % (coco.source, iid))
        kps = np.asarray(kps, dtype=np.float64).reshape(coco.num_keypoints, 3)
        dets[iid].append({"keypoints": kps, "score": float(score)})
        n_dets += 1
    out = {}
    for area_name in ("all", "medium", "large"):
        per_image = []
        for iid in sorted(coco.images):
            dts, gts = dets[iid], coco.gts[iid]
            per_image.append(_evaluate_image(dts, gts, coco.sigmas, AREA_RANGES[area_name], max_dets)
                             if dts or gts else None)
        ap, rec = _accumulate(per_image)
        if area_name == "all":
            out.update(AP=_mean(ap), AP50=float(ap[0]), AP75=float(ap[5]), AR=_mean(rec),
                       AR50=float(rec[0]), AR75=float(rec[5]))
            out["per_keypoint_recall"] = _keypoint_recall(per_image, coco)
            out["people"] = int(sum((~r["gt_ignore"]).sum() for r in per_image if r is not None))
        else:
            out["AP_" + area_name[0].upper()] = _mean(ap)
    out["images"] = len(coco.images)
    out["detections"] = n_dets
    return out


def _mean(v):
    v = v[v > -1]
    return float(v.mean()) if len(v) else -1.0


def _keypoint_recall(per_image, coco):
    found = np.zeros(coco.num_keypoints)
    total = np.zeros(coco.num_keypoints)
    for r in per_image:
        if r is None:
            continue
        for gi, gt in enumerate(r["gts"]):
            if r["gt_ignore"][gi]:
                continue
            lab = gt["keypoints"][:, 2] > 0
            total += lab
            di = r["gtm"][0, gi]  # match at OKS 0.5
            if di >= 0:
                found += lab & (r["per_kp"][di, gi] >= 0.5)
    names = [KEYPOINTS[i] for i in coco.index]
    return {n: (float(f / t) if t else None) for n, f, t in zip(names, found, total)}


def evaluate(coco, detections, max_dets=MAX_DETS):
    """OKS metrics for ``Detection``s with 18-keypoint (BodyPoseNet order) keypoints in source pixels.

    ``coco``: a ``CocoKeypoints`` or a path to a COCO annotation file.
    """
    if not isinstance(coco, CocoKeypoints):
        coco = CocoKeypoints.load(coco)
    conv = ((d.image_id, coco.to_file_layout(d.keypoints), d.score) for d in detections)
    return evaluate_file_layout(coco, conv, max_dets=max_dets)


def run_model(coco, images_dir, model, profile, threads=None, decode_overrides=None, limit=None):
    """Run ``model`` over the images of ``coco``: returns the list of ``Detection``s (source pixels).

    Uses the same path as the runtime: ``preprocess`` -> ``open_backend`` -> ``PoseDecoder`` ->
    ``Transform.to_source``.
    """
    cv2 = deps.load("cv2", "edgepose eval")

    from .backends import open_backend
    from .decode import PoseDecoder
    from .preprocess import preprocess

    if not os.path.isdir(images_dir):
        raise InputError("%s: images folder not found (give --images DIR holding the file_name of each image)"
                         % images_dir)
    backend = open_backend(model, profile=profile, threads=threads)
    decoder = PoseDecoder(profile, **(decode_overrides or {}))
    input_name = profile.input.name
    ids = sorted(coco.images)[:limit] if limit else sorted(coco.images)
    dets = []
    t0 = time.perf_counter()
    infer_s = 0.0
    with backend, progress(len(ids), "eval", unit="image", logger=log) as bar:
        for n, iid in enumerate(ids, 1):
            info = coco.images[iid]
            path = os.path.join(images_dir, info["file_name"])
            image = cv2.imread(path, cv2.IMREAD_COLOR)
            if image is None:
                raise InputError("%s: cannot read image %r of the annotation file (is --images the right folder?)"
                                 % (path, info["file_name"]))
            tensor, tf = preprocess(image, profile)
            t = time.perf_counter()
            outputs = backend.infer({input_name: tensor})
            infer_s += time.perf_counter() - t
            for person in decoder.decode(outputs):
                kps = tf.to_source(person.keypoints)
                kps[np.asarray(person.keypoints)[:, 2] <= 0, :2] = np.nan
                dets.append(Detection(iid, kps, float(person.score)))
            bar.set_postfix_str("%d people found, %.1f ms/image inference" % (len(dets), 1000 * infer_s / n))
            bar.update()
    log.debug("eval: %.1f s in all", time.perf_counter() - t0)
    return dets


def coco_from_scenes(scenes, names=None):
    """A COCO 18-keypoint annotation dict for rendered synthetic scenes (``edgepose.synth.SynthScene``).

    Same conventions as ``edgepose synth images``: image ids 1.., ``file_name`` = ``names[i]`` or
    ``"%06d.png"``; bbox = pixel extents around the box's pixel centres; ``area`` = the person's
    visible pixel count (``scene.areas``, COCO's segmentation area) or, without it, the bbox area.
    """
    data = {"images": [], "annotations": [],
            "categories": [{"id": 1, "name": "person", "keypoints": list(KEYPOINTS), "skeleton": []}]}
    aid = 1
    for i, scene in enumerate(scenes):
        h, w = scene.image.shape[:2]
        name = names[i] if names else "%06d.png" % (i + 1)
        data["images"].append({"id": i + 1, "file_name": name, "width": int(w), "height": int(h)})
        kps = np.asarray(scene.keypoints, dtype=np.float64).reshape(-1, NUM_KEYPOINTS, 3)
        boxes = np.asarray(scene.boxes, dtype=np.float64).reshape(-1, 4)
        areas = getattr(scene, "areas", None)
        for n, (k, b) in enumerate(zip(kps, boxes)):
            k = k.copy()
            k[k[:, 2] <= 0] = 0.0
            x0, y0, x1, y1 = (float(v) for v in b)
            bbox = [x0 - 0.5, y0 - 0.5, x1 - x0 + 1.0, y1 - y0 + 1.0]
            area = float(areas[n]) if areas is not None else bbox[2] * bbox[3]
            data["annotations"].append({
                "id": aid, "image_id": i + 1, "category_id": 1, "keypoints": k.ravel().tolist(),
                "num_keypoints": int((k[:, 2] > 0).sum()), "bbox": bbox, "area": area, "iscrowd": 0})
            aid += 1
    return data


_SIZE_NAMES = {"AP_M": "32^2..96^2 px", "AP_L": "over 96^2 px"}


def format_table(metrics):
    """The metrics as a printable table."""
    lines = ["%-22s %7s" % ("metric", "value")]
    for k in ("AP", "AP50", "AP75", "AP_M", "AP_L", "AR", "AR50", "AR75"):
        if k in metrics:
            if metrics[k] < 0:   # COCO's -1: no ground-truth person of that size to score
                lines.append("%-22s %7s  (COCO's -1: no ground-truth person with area %s)"
                             % (k, "-", _SIZE_NAMES.get(k, "of that size")))
            else:
                lines.append("%-22s %7.3f" % (k, metrics[k]))
    lines.append("%-22s %7d" % ("images", metrics.get("images", 0)))
    lines.append("%-22s %7d" % ("people (GT)", metrics.get("people", 0)))
    lines.append("%-22s %7d" % ("detections", metrics.get("detections", 0)))
    lines.append("per-keypoint recall (OKS >= 0.5):")
    for name, v in metrics.get("per_keypoint_recall", {}).items():
        lines.append("  %-20s %7s" % (name, "-" if v is None else "%.3f" % v))
    return "\n".join(lines)
