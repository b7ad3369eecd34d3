"""``edgepose infer IMAGE...``: run a pose model on still images; print, save JSON, draw overlays."""
import json
import logging

from .. import deps
from ..atomic import write_atomic
from ..errors import InputError, OutputError, UsageError
from ._common import check_outputs, size_type

NAME = "infer"
HELP = "detect people in images (ONNX model or TensorRT engine); JSON and overlays"
DESCRIPTION = """Detect people in still images.

IMAGE may be a file or a directory (its images, sorted). Coordinates in the JSON are in original
image pixels; a missing keypoint is [null, null, 0]. An image that cannot be read is skipped with a
warning (listed under "skipped" in the JSON); the exit code is 1 when none could be read. Example:

  edgepose infer photo.jpg --model bpnet.onnx --profile tao-bpnet --json out.json --draw overlays/
"""

log = logging.getLogger(__name__)


def add_arguments(p):
    p.add_argument("images", nargs="+", metavar="IMAGE", help="image files or directories of images")
    p.add_argument("--model", help="ONNX model or TensorRT engine (default: the bundled demo model)")
    p.add_argument("--profile", help="model profile: built-in name or YAML path (default: guessed from the model)")
    p.add_argument("--size", type=size_type, metavar="HxW", help="network input size (default: the profile's)")
    p.add_argument("--json", metavar="OUT", help="write the results as JSON to OUT ('-' for stdout)")
    p.add_argument("--draw", metavar="DIR", help="write overlays (skeletons on the images) into DIR")
    p.add_argument("--threads", type=int, metavar="N", help="CPU threads for ONNX Runtime (default: all)")


def _write_json(path, data):
    text = json.dumps(data, indent=1)
    if path == "-":
        print(text)
        return
    write_atomic(path, text + "\n")


def run(args):
    from ..backends import open_backend
    from ..profiles import resolve_model
    from ..stills import detect_images, expand_images, overlay_path

    paths = expand_images(args.images)
    check_outputs(args, files=["json"], folders=["draw"])
    if args.threads is not None and args.threads < 1:
        raise UsageError("--threads %d: expected a positive number" % args.threads)
    model, profile = resolve_model(args.model, profile=args.profile, size=args.size, inputs=args.images)
    say = print if args.json != "-" else (lambda *a: None)
    results, used = [], set()
    log.info("model %s, profile %s, input %dx%d, %d image(s)", model, profile.name,
             profile.input.size[0], profile.input.size[1], len(paths))
    with open_backend(model, profile, threads=args.threads) as backend:
        for r in detect_images(paths, backend, profile):
            results.append(r.to_json())
            if r.error is not None:
                continue
            scores = ", ".join("%.2f" % p.score for p in r.people)
            say("%s: %d %s%s  (network %.1f ms, decode %.2f ms)" % (
                r.path, len(r.people), "person" if len(r.people) == 1 else "people",
                " [%s]" % scores if r.people else "", r.network_s * 1e3, r.decode_s * 1e3))
            if args.draw:
                _draw(r, overlay_path(args.draw, r.path, used))
    skipped = [r for r in results if "error" in r]
    if args.json:
        _write_json(args.json, {"images": [r for r in results if "error" not in r],
                                "skipped": skipped})
    if len(skipped) == len(results):
        raise InputError("none of the %d image(s) could be read (%s)" % (len(results), skipped[0]["error"]))
    if skipped:
        log.warning("%d of %d image(s) skipped (unreadable)", len(skipped), len(results))
    return 0


def _draw(result, out):
    from ..draw import draw_people

    cv2 = deps.load("cv2", "edgepose infer --draw")
    if not cv2.imwrite(out, draw_people(result.image, result.people)):
        raise OutputError("--draw: cannot write %s (OpenCV refused it: check the folder and the free space)" % out)
