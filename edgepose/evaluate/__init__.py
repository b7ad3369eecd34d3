"""COCO keypoint evaluation (OKS AP/AR), written from scratch in numpy, and the detections to score.

- ``coco``: ``CocoKeypoints`` reads a COCO person-keypoint file (COCO's 17 keypoints or edgepose's 18
  incl. the neck; an optional ``posture`` per annotation); ``coco_from_scenes`` makes one for
  synthetic scenes; ``Detection(image_id, keypoints (18, 3) source pixels, NaN = missing, score)``.
- ``metrics``: ``evaluate`` / ``evaluate_file_layout``, the COCO keypoint challenge's metric
  (matches pycocotools), per-keypoint recall and person recall by height and posture.
- ``runs``: ``run_model`` (a model over the images, the runtime's own path) and
  ``oracle_detections`` (ground-truth maps through the same decoder: the ceiling).
- ``report``: ``format_table``, the model's figures with the oracle's beside them.

18-keypoint predictions are scored on a 17-keypoint file's keypoints via ``edgepose.topology.to_coco17``.
"""
from .coco import CocoKeypoints, Detection, coco_from_scenes
from .metrics import (AREA_RANGES, HEIGHT_BINS, MAX_DETS, OKS_THRESHOLDS, RECALL_THRESHOLDS, evaluate,
                      evaluate_file_layout)
from .report import format_table
from .runs import oracle_detections, run_model

__all__ = ["AREA_RANGES", "CocoKeypoints", "Detection", "HEIGHT_BINS", "MAX_DETS", "OKS_THRESHOLDS",
           "RECALL_THRESHOLDS", "coco_from_scenes", "evaluate", "evaluate_file_layout", "format_table",
           "oracle_detections", "run_model"]
