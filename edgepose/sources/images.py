"""Still images on disk: the one list of image suffixes, the one lister and the one reader.

Used by the image-folder source, ``edgepose infer``, INT8 calibration and its image collector, so
they agree on what counts as an image.
"""
import os

from .. import deps
from ..errors import InputError

IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png", ".bmp", ".tif", ".tiff", ".webp", ".ppm", ".pgm")


def is_image_file(name):
    return name.lower().endswith(IMAGE_SUFFIXES)


def list_images(folder):
    """Sorted paths of the images in ``folder`` (not recursive)."""
    return [os.path.join(folder, n) for n in sorted(os.listdir(folder)) if is_image_file(n)]


def load_image(path):
    """The image at ``path`` as BGR uint8 ``(H, W, 3)``, or None when it cannot be decoded."""
    cv2 = deps.load("cv2", "reading images")
    return cv2.imread(os.fspath(path), cv2.IMREAD_COLOR)


def read_image(path, fix="check the file"):
    """``load_image``, or an ``InputError`` naming the file and ``fix``."""
    image = load_image(path)
    if image is None:
        raise InputError("%s: cannot read this image (not an image file, or a format OpenCV cannot decode): %s"
                         % (path, fix))
    return image
