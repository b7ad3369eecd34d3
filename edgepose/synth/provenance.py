"""Is an input one that edgepose's synthetic world made? Told from the files written beside it, not
from its pixels: ``edgepose synth clip`` writes ``NAME.truth.json`` next to ``NAME.mp4``, and
``edgepose synth images`` writes an ``annotations.json`` whose ``info.description`` says so.

Used to warn once when the bundled demo model (which only knows synthetic figures) is pointed at
anything else: a camera, a stream, a photo folder, a video from elsewhere.
"""
import glob
import os

DATASET_DESCRIPTION = "edgepose synthetic people"   # written by synth.dataset.write_images


def truth_path(video_path):
    """The ``.truth.json`` beside a clip written by ``write_clip``."""
    return os.path.splitext(os.fspath(video_path))[0] + ".truth.json"


def _synthetic_folder(folder):
    path = os.path.join(folder or ".", "annotations.json")
    try:
        with open(path, "rb") as f:
            head = f.read(1024)
    except OSError:
        return False
    return DATASET_DESCRIPTION.encode() in head


def is_synthetic(uri):
    """True when ``uri`` is a clip or an image set written by ``edgepose synth`` (a path, a folder,
    or a glob whose folder is one); False for cameras, streams and anything else."""
    if not isinstance(uri, (str, bytes, os.PathLike)):
        return False
    text = os.fspath(uri)
    text = text.split("?", 1)[0] if "://" not in text else text
    if text.lower().startswith("file://"):
        text = text[7:]
    elif "://" in text or text.startswith("/dev/") or text.isdigit():
        return False
    if os.path.isdir(text):
        return _synthetic_folder(text)
    if any(c in text for c in "*?["):
        folders = {os.path.dirname(p) for p in glob.glob(text)} or {os.path.dirname(text)}
        return all(_synthetic_folder(f) for f in folders)
    if os.path.isfile(truth_path(text)):
        return True
    return os.path.isfile(text) and _synthetic_folder(os.path.dirname(text))
