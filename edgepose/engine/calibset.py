"""``edgepose calib collect``: a calibration image set from a video, an image folder or a camera.

Frames come from ``edgepose.sources.open_source`` (camera, RTSP, video file, image folder). A frame is
kept when at least ``every`` seconds have passed since the last kept one and it is not a near-duplicate
of it (mean absolute difference of 32x24 grey thumbnails below ``min_diff``, on 0..255): a static
scene filmed for a minute gives a handful of images, not 1800 copies. Kept frames are written as JPEGs.
"""
import logging
import os

import numpy as np

from .. import deps
from ..sources.images import list_images
from ..errors import SourceError, UsageError

log = logging.getLogger(__name__)

THUMB = (32, 24)


def thumbnail(image):
    cv2 = deps.load("cv2", "edgepose calib")

    grey = cv2.cvtColor(image, cv2.COLOR_BGR2GRAY)
    return cv2.resize(grey, THUMB, interpolation=cv2.INTER_AREA).astype(np.float32)


def is_near_duplicate(thumb, previous, min_diff):
    return previous is not None and float(np.mean(np.abs(thumb - previous))) < min_diff


def collect(source, out_dir, count, every=None, min_diff=3.0, quality=95, max_frames=None):
    """Write up to ``count`` distinct frames of ``source`` (a URI or a Source) to ``out_dir``.

    Returns ``{"written", "seen", "duplicates", "out"}``.
    """
    cv2 = deps.load("cv2", "edgepose calib")

    from ..sources import open_source

    if count < 1:
        raise UsageError("--count %d: must be at least 1" % count)
    os.makedirs(out_dir, exist_ok=True)
    existing = list_images(out_dir)
    if existing:
        log.warning("%s already holds %d image(s); new frames are added beside them", out_dir, len(existing))
    from ..progress import progress

    src = open_source(source)
    written = seen = dupes = 0
    last_t = None
    last_thumb = None
    bar = progress(count, "calib collect", unit="image", logger=log)
    try:
        for frame in src:
            seen += 1
            if max_frames and seen > max_frames:
                break
            if every and last_t is not None and frame.t - last_t < every:
                continue
            thumb = thumbnail(frame.image)
            if is_near_duplicate(thumb, last_thumb, min_diff):
                dupes += 1
                continue
            name = os.path.join(out_dir, "calib_%05d.jpg" % (len(existing) + written))
            if not cv2.imwrite(name, frame.image, [cv2.IMWRITE_JPEG_QUALITY, int(quality)]):
                raise SourceError("%s: cannot write the JPEG (disk full or no permission?)" % name)
            written += 1
            last_t, last_thumb = frame.t, thumb
            bar.set_postfix_str("%d frames read, %d near-duplicates skipped" % (seen, dupes))
            bar.update()
            if written >= count:
                break
    finally:
        bar.close()
        src.close()
    if written < count:
        log.warning("the source ended after %d distinct frame(s), fewer than --count %d", written, count)
    return {"written": written, "seen": seen, "duplicates": dupes, "out": out_dir}
