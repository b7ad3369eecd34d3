"""The ``edgepose`` command: parses arguments and calls the library; nothing else lives here.

Sub-commands are the modules of ``edgepose.commands``; each defines ``NAME``, ``HELP``,
``add_arguments(parser)`` and ``run(args) -> int``. A sub-command whose module fails to import (a
missing optional library) still shows in ``--help`` with the reason, so the rest keeps working.

One error boundary: an ``EdgeposeError`` is printed as one line, ``edgepose: error: ...``, and the
exit code is the error's (2 usage/config, 1 otherwise); any other exception keeps its traceback.
"""
import argparse
import importlib
import logging
import pkgutil
import sys

from . import __version__
from .errors import EdgeposeError

log = logging.getLogger("edgepose")


def _command_modules():
    from . import commands

    mods = []
    for info in sorted(pkgutil.iter_modules(commands.__path__), key=lambda m: m.name):
        if info.name.startswith("_"):
            continue
        try:
            mods.append((info.name, importlib.import_module("edgepose.commands." + info.name), None))
        except Exception as e:  # degrade to a help text naming the error
            mods.append((info.name, None, "%s: %s" % (type(e).__name__, e)))
    return mods


def build_parser():
    parser = argparse.ArgumentParser(
        prog="edgepose",
        description="BodyPoseNet pose estimation on Jetson (TensorRT or ONNX Runtime), with fall and posture alerts.",
    )
    parser.add_argument("--version", action="version", version="edgepose " + __version__)
    parser.add_argument("-v", "--verbose", action="count", default=0, help="more log output (-vv: debug)")
    parser.add_argument("-q", "--quiet", action="store_true", help="only warnings and errors")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name, mod, err in _command_modules():
        if mod is None:
            p = sub.add_parser(name.replace("_", "-"), help="(unavailable: %s)" % err)
            p.set_defaults(func=_unavailable(name, err))
            continue
        p = sub.add_parser(mod.NAME, help=mod.HELP, description=getattr(mod, "DESCRIPTION", mod.HELP),
                           formatter_class=argparse.RawDescriptionHelpFormatter)
        mod.add_arguments(p)
        p.set_defaults(func=mod.run)
    return parser


def _unavailable(name, err):
    def run(args):
        raise EdgeposeError("command %r is unavailable here: %s" % (name, err))

    return run


def setup_logging(verbose=0, quiet=False):
    level = logging.WARNING if quiet else (logging.DEBUG if verbose > 1 else logging.INFO)
    root = logging.getLogger()
    if not root.handlers:
        handler = logging.StreamHandler(sys.stderr)
        handler.setFormatter(logging.Formatter("%(levelname)s %(name)s: %(message)s"))
        root.addHandler(handler)
    root.setLevel(level)


def main(argv=None):
    parser = build_parser()
    args = parser.parse_args(argv)
    if not getattr(args, "func", None):
        parser.print_help()
        return 2
    setup_logging(args.verbose, args.quiet)
    try:
        return int(args.func(args) or 0)
    except EdgeposeError as e:
        lines = str(e).splitlines() or [type(e).__name__]
        for line in lines:
            print("edgepose: error: %s" % line, file=sys.stderr)
        return e.exit_code
    except KeyboardInterrupt:
        print("edgepose: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
