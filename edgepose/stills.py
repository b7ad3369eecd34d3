"""Pose estimation on still images (``edgepose infer``): files and folders in, people per image out.

``detect_images(paths, backend, profile)`` yields one ``StillResult`` per path, in order. An image
that cannot be read is skipped with a warning (its result carries the reason in ``error``) and the
rest go on, as the image-folder source of ``edgepose run`` does; the caller decides what "nothing
could be read" means (``edgepose infer`` exits 1).
"""
import logging
import os
import time
from dataclasses import dataclass, field
from typing import List, Optional

from .errors import InputError
from .sources.images import IMAGE_SUFFIXES, list_images, read_image
from .types import Person

log = logging.getLogger(__name__)


@dataclass
class StillResult:
    """One image: ``people`` in its pixels; ``error`` is the reason it was skipped (None: it was read)."""

    path: str
    width: int = 0
    height: int = 0
    people: List[Person] = field(default_factory=list)
    network_s: float = 0.0
    decode_s: float = 0.0
    error: Optional[str] = None
    image: object = None    # the BGR image (for overlays); None when skipped

    def to_json(self):
        if self.error is not None:
            return {"path": self.path, "error": self.error}
        return {"path": self.path, "width": self.width, "height": self.height,
                "people": [p.to_json() for p in self.people]}


def expand_images(items):
    """Files as given, folders expanded to their images (sorted); a missing path or an empty folder is an
    ``InputError`` (a typo, not an unreadable file)."""
    out = []
    for item in items:
        if os.path.isdir(item):
            found = list_images(item)
            if not found:
                raise InputError("%s: folder holds no images (%s)" % (item, " ".join(IMAGE_SUFFIXES)))
            out.extend(found)
        elif os.path.isfile(item):
            out.append(item)
        else:
            raise InputError("%s: no such image file or folder" % item)
    return out


def detect_images(paths, backend, profile, decoder=None):
    """``StillResult`` per path, in order; ``backend`` must be activated (``with open_backend(...)``)."""
    from .decode import PoseDecoder
    from .preprocess import preprocess

    decoder = decoder or PoseDecoder(profile)
    for path in paths:
        try:
            image = read_image(path, fix="skipped")
        except InputError as e:
            log.warning("%s", e)
            yield StillResult(path, error=str(e))
            continue
        tensor, tf = preprocess(image, profile)
        t0 = time.perf_counter()
        outputs = backend.infer({profile.input.name: tensor})
        t1 = time.perf_counter()
        people = decoder.decode(outputs)
        t2 = time.perf_counter()
        for person in people:
            person.keypoints[:, :2] = tf.to_source(person.keypoints[:, :2])
        yield StillResult(path, int(image.shape[1]), int(image.shape[0]), people, t1 - t0, t2 - t1, image=image)


def overlay_path(directory, path, used):
    """A file name in ``directory`` for the overlay of ``path``, unique among ``used`` (updated)."""
    stem, ext = os.path.splitext(os.path.basename(path))
    if ext.lower() not in (".jpg", ".jpeg", ".png", ".bmp"):
        ext = ".jpg"
    out, n = stem + ext, 1
    while out in used:
        n += 1
        out = "%s_%d%s" % (stem, n, ext)
    used.add(out)
    return os.path.join(directory, out)
