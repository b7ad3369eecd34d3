"""``edgepose eval --coco ANN.json --images DIR [--oracle]``: OKS AP of a model on a COCO keypoint set.

Besides AP/AR: person recall by height and (for edgepose's synthetic sets) by posture, and with
``--oracle`` the same figures for ground-truth maps put through the same decoder (the ceiling).
"""
import json
import logging
import os

from ..atomic import write_atomic
from ..errors import UsageError
from ._common import check_outputs

NAME = "eval"
HELP = "measure a model's COCO keypoint AP (OKS) on an annotated image set (17- or 18-keypoint COCO file)"
DESCRIPTION = """Measure a model's COCO keypoint AP (OKS, as pycocotools) on an annotated image set.

Prints AP, AP50, AP75, AR, person recall at OKS >= 0.5 by height (< 60, 60-120, >= 120 image pixels) and,
where the annotations carry a posture (edgepose synth images writes one), by posture (upright, sitting,
lying), and per-keypoint recall.

--oracle also puts ground-truth maps (the training targets' heatmaps and PAFs, at the profile's strides)
through the same decoder and evaluation and prints that ceiling beside the model's figures: the gap
between the two columns is the network's, the gap between the oracle and 1.0 the decoder's.

  edgepose eval --coco data/val/annotations.json --images data/val --oracle
  edgepose eval --coco data/val/annotations.json --oracle-only --profile edgepose-demo
"""

log = logging.getLogger(__name__)


def add_arguments(p):
    p.add_argument("--coco", required=True, metavar="ANN.json", help="COCO person-keypoint annotation file")
    p.add_argument("--images", metavar="DIR", help="folder holding the images' file_name (not needed with "
                   "--oracle-only)")
    p.add_argument("--model", help="ONNX model or TensorRT engine (default: the bundled demo model)")
    p.add_argument("--profile", help="model profile name or YAML (default: the bundled model's, or guessed)")
    p.add_argument("--json", metavar="OUT", help="also write the metrics as JSON to OUT")
    p.add_argument("--threads", type=int, help="CPU threads for ONNX Runtime (default: all cores)")
    p.add_argument("--limit", type=int, help="evaluate only the first N images (by id)")
    p.add_argument("--oracle", action="store_true",
                   help="also decode ground-truth maps of the annotations and print that ceiling beside the model")
    p.add_argument("--oracle-only", action="store_true",
                   help="only the oracle: no model is run and no image read (the profile still comes from "
                        "--profile or the model)")


def run(args):
    from ..evaluate import CocoKeypoints, evaluate, format_table, oracle_detections, run_model
    from ..profiles import resolve_model

    if args.threads is not None and args.threads < 1:
        raise UsageError("--threads %d: expected a positive number" % args.threads)
    if args.limit is not None and args.limit < 1:
        raise UsageError("--limit %d: expected a positive number" % args.limit)
    if not args.images and not args.oracle_only:
        raise UsageError("edgepose eval: --images DIR is required (the folder of the annotation file's images), "
                         "unless --oracle-only")
    check_outputs(args, files=["json"])
    model, prof = resolve_model(args.model, profile=args.profile, inputs=[args.images] if args.images else None)
    coco = CocoKeypoints.load(args.coco)
    if args.limit:
        coco.images = {i: coco.images[i] for i in sorted(coco.images)[:args.limit]}
        coco.gts = {i: coco.gts[i] for i in coco.images}
    metrics = oracle = None
    if not args.oracle_only:
        log.info("eval: %s on %s (%d images, %d keypoints per person, profile %s)",
                 os.path.basename(model), args.coco, len(coco.images), coco.num_keypoints, prof.name)
        dets = run_model(coco, args.images, model, prof, threads=args.threads)
        metrics = evaluate(coco, dets)
        metrics.update(model=model, profile=prof.name, annotations=args.coco)
    if args.oracle or args.oracle_only:
        oracle = evaluate(coco, oracle_detections(coco, prof))
        oracle.update(profile=prof.name, annotations=args.coco)
    print(format_table(metrics, oracle))
    if args.json:
        out = dict(metrics or {}, oracle=oracle) if oracle is not None else metrics
        write_atomic(args.json, json.dumps(out, indent=2) + "\n")
        print("metrics written to %s" % args.json)
    return 0
