"""Detections for a COCO set: from a model (``run_model``) or from ground-truth maps (``oracle_detections``).

Both go through the same decoder (``PoseDecoder`` with the profile's thresholds) and the same mapping
back to source pixels, so their metrics compare directly: the oracle's is the ceiling the decoder
allows a perfect network of that profile.
"""
import logging
import os
import time

import numpy as np

from ..errors import InputError
from ..progress import progress
from ..sources import images
from .coco import Detection

log = logging.getLogger(__name__)


def _detections(image_id, people, tf):
    """``Detection``s in source pixels for decoded ``people`` (missing keypoints NaN)."""
    out = []
    for person in people:
        kps = tf.to_source(person.keypoints)
        kps[np.asarray(person.keypoints)[:, 2] <= 0, :2] = np.nan
        out.append(Detection(image_id, kps, float(person.score)))
    return out


def run_model(coco, images_dir, model, profile, threads=None, decode_overrides=None, limit=None):
    """Run ``model`` over the images of ``coco``: returns the list of ``Detection``s (source pixels).

    Uses the same path as the runtime: ``preprocess`` -> ``open_backend`` -> ``PoseDecoder`` ->
    ``Transform.to_source``.
    """
    from ..backends import open_backend
    from ..decode import PoseDecoder
    from ..preprocess import preprocess

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
            image = images.read_image(path, fix="is --images the folder of the annotation file's images?")
            tensor, tf = preprocess(image, profile)
            t = time.perf_counter()
            outputs = backend.infer({input_name: tensor})
            infer_s += time.perf_counter() - t
            dets += _detections(iid, decoder.decode(outputs), tf)
            bar.set_postfix_str("%d people found, %.1f ms/image inference" % (len(dets), 1000 * infer_s / n))
            bar.update()
    log.debug("eval: %.1f s in all", time.perf_counter() - t0)
    return dets


def oracle_detections(coco, profile, decode_overrides=None, limit=None):
    """What the decoder makes of ground-truth maps of ``coco``'s people: ``[Detection]`` (source pixels).

    Per image: the GT keypoints (``CocoKeypoints.truth18``) mapped into the network input as
    ``preprocess`` maps the image (``compute_transform`` with the profile's size and resize mode; the
    image's ``width``/``height`` from the file), the maps a perfect network of the profile outputs
    (``edgepose.synth.targets.render_maps`` with the training targets' sigma and limb width, the PAF
    drawn at the heatmap stride and repeated up to the PAF stride as TAO's deployable graph does),
    then ``PoseDecoder`` and the inverse mapping. No image is read.
    """
    from ..decode import PoseDecoder
    from ..preprocess import compute_transform
    from ..synth.targets import render_maps

    decoder = PoseDecoder(profile, **(decode_overrides or {}))
    net_h, net_w = profile.input.size
    paf_from = max(profile.outputs.heatmap.stride, profile.outputs.paf.stride)
    ids = sorted(coco.images)[:limit] if limit else sorted(coco.images)
    dets = []
    for iid in ids:
        info = coco.images[iid]
        try:
            w, h = int(info["width"]), int(info["height"])
        except (KeyError, TypeError, ValueError):
            raise InputError("%s: image %s has no width/height; the oracle needs each image's size in the "
                             "annotation file" % (coco.source, iid))
        tf = compute_transform(h, w, net_h, net_w, profile.input.resize)
        outputs = render_maps(profile, tf.to_network(coco.truth18(iid)), (net_h, net_w), paf_from_stride=paf_from)
        dets += _detections(iid, decoder.decode(outputs), tf)
    log.info("oracle: %d images, %d people found in ground-truth maps", len(ids), len(dets))
    return dets
