"""Argument helpers shared by sub-commands."""
import os

from ..errors import UsageError


def parse_size(text):
    """'288x384' (H x W) -> (288, 384); one clear error otherwise."""
    try:
        h, w = (int(v) for v in str(text).lower().split("x"))
        if h <= 0 or w <= 0:
            raise ValueError
        return h, w
    except ValueError:
        raise UsageError("--size %r: expected HxW with positive integers, e.g. 288x384" % (text,))


def bundled_model():
    """Path of the bundled demo model and its profile name, or (None, None) when not shipped."""
    here = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "models")
    path = os.path.join(here, "edgepose-demo.onnx")
    return (path, "edgepose-demo") if os.path.isfile(path) else (None, None)


def resolve_model(model, profile):
    """Default to the bundled demo model (and its profile) when no model is given."""
    if model:
        return model, profile
    path, prof = bundled_model()
    if path is None:
        raise UsageError("no --model given and the bundled demo model is not installed: pass --model M.onnx")
    return path, profile or prof
