"""Argument helpers shared by sub-commands: argparse types and output checks (done before the work)."""
import argparse

from ..atomic import check_writable
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


def size_type(text):
    """``type=`` for a ``--size HxW`` argument: argparse prints the one-line reason (exit 2)."""
    try:
        return parse_size(text)
    except UsageError as e:
        raise argparse.ArgumentTypeError(str(e).split(": ", 1)[1])


def positive_int(text):
    """``type=`` for counts: a positive integer."""
    try:
        value = int(text)
    except ValueError:
        value = 0
    if value <= 0:
        raise argparse.ArgumentTypeError("expected a positive whole number, got %r" % text)
    return value


def check_outputs(args, files=(), folders=()):
    """Check every output the user named (attribute names of ``args``) before the work starts; '-'
    (stdout) is always fine."""
    for attr in files:
        path = getattr(args, attr, None)
        if path and path != "-":
            check_writable(path, "--" + attr.replace("_", "-"))
    for attr in folders:
        path = getattr(args, attr, None)
        if path:
            check_writable(path, "--" + attr.replace("_", "-"), folder=True)
