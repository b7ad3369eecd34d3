"""``edgepose infer IMAGE...``: run a pose model on still images; print, save JSON, draw overlays."""
import json
import logging
import os
import time

from .. import deps
from ..atomic import write_atomic
from ..errors import InputError, UsageError
from ..sources.images import IMAGE_SUFFIXES, list_images, read_image
from ._common import parse_size

NAME = "infer"
HELP = "detect people in images (ONNX model or TensorRT engine); JSON and overlays"
DESCRIPTION = """Detect people in still images.

IMAGE may be a file or a directory (its images, sorted). Coordinates in the JSON are in original
image pixels; a missing keypoint is [null, null, 0]. Example:

  edgepose infer photo.jpg --model bpnet.onnx --profile tao-bpnet --json out.json --draw overlays/
"""

log = logging.getLogger(__name__)


def add_arguments(p):
    p.add_argument("images", nargs="+", metavar="IMAGE", help="image files or directories of images")
    p.add_argument("--model", help="ONNX model or TensorRT engine (default: the bundled demo model)")
    p.add_argument("--profile", help="model profile: built-in name or YAML path (default: guessed from the model)")
    p.add_argument("--size", type=parse_size, metavar="HxW", help="network input size (default: the profile's)")
    p.add_argument("--json", metavar="OUT", help="write the results as JSON to OUT ('-' for stdout)")
    p.add_argument("--draw", metavar="DIR", help="write overlays (skeletons on the images) into DIR")
    p.add_argument("--threads", type=int, metavar="N", help="CPU threads for ONNX Runtime (default: all)")


def expand_images(items):
    """Files as given, directories expanded to their images (sorted); a missing path is an error."""
    out = []
    for item in items:
        if os.path.isdir(item):
            found = list_images(item)
            if not found:
                raise InputError("%s: directory holds no images (%s)" % (item, " ".join(IMAGE_SUFFIXES)))
            out.extend(found)
        elif os.path.isfile(item):
            out.append(item)
        else:
            raise InputError("%s: no such image file or directory" % item)
    return out


def _overlay_path(directory, path, used):
    name = os.path.basename(path)
    stem, ext = os.path.splitext(name)
    if ext.lower() not in (".jpg", ".jpeg", ".png", ".bmp"):
        ext = ".jpg"
    out, n = stem + ext, 1
    while out in used:
        n += 1
        out = "%s_%d%s" % (stem, n, ext)
    used.add(out)
    return os.path.join(directory, out)


def _write_json(path, data):
    text = json.dumps(data, indent=1)
    if path == "-":
        print(text)
        return
    write_atomic(path, text + "\n")


def run(args):
    from ..backends import open_backend
    from ..decode import PoseDecoder
    from ..preprocess import preprocess
    from ..profiles import resolve_model

    paths = expand_images(args.images)
    model, profile = resolve_model(args.model, profile=args.profile, size=args.size)
    if args.threads is not None and args.threads < 1:
        raise UsageError("--threads %d: expected a positive number" % args.threads)
    decoder = PoseDecoder(profile)
    if args.draw:
        os.makedirs(args.draw, exist_ok=True)
    say = print if args.json != "-" else (lambda *a: None)
    results, used = [], set()
    log.info("model %s, profile %s, input %dx%d, %d image(s)", model, profile.name,
             profile.input.size[0], profile.input.size[1], len(paths))
    with open_backend(model, profile, threads=args.threads) as backend:
        for path in paths:
            image = read_image(path)
            tensor, tf = preprocess(image, profile)
            t0 = time.perf_counter()
            outputs = backend.infer({profile.input.name: tensor})
            t1 = time.perf_counter()
            people = decoder.decode(outputs)
            t2 = time.perf_counter()
            for person in people:
                person.keypoints[:, :2] = tf.to_source(person.keypoints[:, :2])
            results.append({"path": path, "width": int(image.shape[1]), "height": int(image.shape[0]),
                            "people": [p.to_json() for p in people]})
            scores = ", ".join("%.2f" % p.score for p in people)
            say("%s: %d %s%s  (network %.1f ms, decode %.2f ms)" % (
                path, len(people), "person" if len(people) == 1 else "people",
                " [%s]" % scores if people else "", (t1 - t0) * 1e3, (t2 - t1) * 1e3))
            if args.draw:
                from ..draw import draw_people
                cv2 = deps.load("cv2", "edgepose infer --draw")
                out = _overlay_path(args.draw, path, used)
                if not cv2.imwrite(out, draw_people(image, people)):
                    raise InputError("%s: cannot write the overlay (check the directory)" % out)
    if args.json:
        _write_json(args.json, {"images": results})
    return 0
