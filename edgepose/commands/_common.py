"""Argument helpers shared by sub-commands."""
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
