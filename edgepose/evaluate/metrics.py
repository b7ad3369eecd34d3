"""OKS AP/AR as the COCO keypoint challenge computes it (pycocotools' ``COCOeval(iouType="keypoints")``),
plus per-keypoint recall and person recall broken down by size and posture.

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
- Person recall by group (an edgepose addition): the share of non-ignored GT people matched at
  OKS >= 0.5 (same matching as AR50), by person height (the bbox height in image pixels: ``HEIGHT_BINS``)
  and, where the annotations carry a ``posture``, by posture.
"""
import numpy as np

from ..errors import InputError
from ..topology import KEYPOINTS
from .coco import CocoKeypoints

OKS_THRESHOLDS = np.linspace(0.5, 0.95, 10)
RECALL_THRESHOLDS = np.linspace(0.0, 1.0, 101)
AREA_RANGES = {"all": (0.0, 1e10), "medium": (32.0 ** 2, 96.0 ** 2), "large": (96.0 ** 2, 1e10)}
MAX_DETS = 20
# person height bins (image pixels): name, [low, high)
HEIGHT_BINS = (("< 60 px", 0.0, 60.0), ("60-120 px", 60.0, 120.0), (">= 120 px", 120.0, float("inf")))
POSTURE_ORDER = ("upright", "sitting", "lying")


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
    recall_by_height and (where the file has postures) recall_by_posture {group: {"people": n,
    "recall": value or None}}, images, people (non-ignored GT), detections.
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
            out.update(_group_recall(per_image))
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


def _group_recall(per_image):
    """Recall at OKS >= 0.5 of the non-ignored GT people, by height bin and by posture."""
    heights, postures, found = [], [], []
    for r in per_image:
        if r is None:
            continue
        for gi, gt in enumerate(r["gts"]):
            if not r["gt_ignore"][gi]:
                heights.append(gt.get("height", 0.0))
                postures.append(gt.get("posture"))
                found.append(r["gtm"][0, gi] >= 0)
    heights, found = np.array(heights, dtype=np.float64), np.array(found, dtype=bool)

    def group(mask):
        n = int(mask.sum())
        return {"people": n, "recall": float(found[mask].mean()) if n else None}

    out = {"recall_by_height": {name: group((heights >= lo) & (heights < hi)) for name, lo, hi in HEIGHT_BINS}}
    named = sorted({p for p in postures if p}, key=lambda p: ((POSTURE_ORDER + (p,)).index(p), p))
    if named:
        postures = np.array([p or "" for p in postures])
        out["recall_by_posture"] = {p: group(postures == p) for p in named}
    return out


def evaluate(coco, detections, max_dets=MAX_DETS):
    """OKS metrics for ``Detection``s with 18-keypoint (BodyPoseNet order) keypoints in source pixels.

    ``coco``: a ``CocoKeypoints`` or a path to a COCO annotation file.
    """
    if not isinstance(coco, CocoKeypoints):
        coco = CocoKeypoints.load(coco)
    conv = ((d.image_id, coco.to_file_layout(d.keypoints), d.score) for d in detections)
    return evaluate_file_layout(coco, conv, max_dets=max_dets)
