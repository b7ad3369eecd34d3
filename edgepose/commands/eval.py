"""``edgepose eval --coco ANN.json --images DIR``: OKS AP of a model on a COCO keypoint set."""
import json
import logging
import os

from ..atomic import write_atomic
from ..errors import UsageError
from ._common import check_outputs

NAME = "eval"
HELP = "measure a model's COCO keypoint AP (OKS) on an annotated image set (17- or 18-keypoint COCO file)"

log = logging.getLogger(__name__)


def add_arguments(p):
    p.add_argument("--coco", required=True, metavar="ANN.json", help="COCO person-keypoint annotation file")
    p.add_argument("--images", required=True, metavar="DIR", help="folder holding the images' file_name")
    p.add_argument("--model", help="ONNX model or TensorRT engine (default: the bundled demo model)")
    p.add_argument("--profile", help="model profile name or YAML (default: the bundled model's, or guessed)")
    p.add_argument("--json", metavar="OUT", help="also write the metrics as JSON to OUT")
    p.add_argument("--threads", type=int, help="CPU threads for ONNX Runtime (default: all cores)")
    p.add_argument("--limit", type=int, help="evaluate only the first N images (by id)")


def run(args):
    from ..evaluate import CocoKeypoints, evaluate, format_table, run_model
    from ..profiles import resolve_model

    if args.threads is not None and args.threads < 1:
        raise UsageError("--threads %d: expected a positive number" % args.threads)
    check_outputs(args, files=["json"])
    model, prof = resolve_model(args.model, profile=args.profile, inputs=[args.images])
    coco = CocoKeypoints.load(args.coco)
    log.info("eval: %s on %s (%d images, %d keypoints per person, profile %s)",
             os.path.basename(model), args.coco, len(coco.images), coco.num_keypoints, prof.name)
    dets = run_model(coco, args.images, model, prof, threads=args.threads, limit=args.limit)
    if args.limit:
        coco.images = {i: coco.images[i] for i in sorted(coco.images)[:args.limit]}
        coco.gts = {i: coco.gts[i] for i in coco.images}
    metrics = evaluate(coco, dets)
    metrics.update(model=model, profile=prof.name, annotations=args.coco)
    print(format_table(metrics))
    if args.json:
        write_atomic(args.json, json.dumps(metrics, indent=2) + "\n")
        print("metrics written to %s" % args.json)
    return 0
