"""The ``edgepose`` command: parses arguments and calls the library; nothing else lives here.

Sub-commands are the modules of ``edgepose.commands``; each defines ``NAME``, ``HELP``,
``add_arguments(parser)`` and ``run(args) -> int``. A sub-command whose module fails to import (a
missing optional library) still shows in ``--help`` with the reason, so the rest keeps working.

One error boundary: an ``EdgeposeError`` is printed as one line, ``edgepose: error: ...``, and the
exit code is the error's (2 usage/config, 1 otherwise); so is an ``OSError`` that names a file (a
folder that cannot be written, a full disk). Output piped into a program that stops reading (``|
head``) ends quietly with exit 141, as a shell tool killed by SIGPIPE would. Any other exception
keeps its traceback.

``-v``/``-q`` are accepted before or after the sub-command (``edgepose -q run ...`` and ``edgepose run
... -q`` are the same).
"""
import argparse
import importlib
import logging
import os
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
    _add_verbosity(parser, top=True)
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
    for p in _subparsers(parser):
        _add_verbosity(p, top=False)
    return parser


def _add_verbosity(parser, top):
    """-v/-q on ``parser``; below the top level they default to "not given" (SUPPRESS), so that
    ``edgepose -q run X`` keeps the -q given before the sub-command."""
    verbose, quiet = (0, False) if top else (argparse.SUPPRESS, argparse.SUPPRESS)
    parser.add_argument("-v", "--verbose", action="count", default=verbose, help="more log output (-vv: debug)")
    parser.add_argument("-q", "--quiet", action="store_true", default=quiet, help="only warnings and errors")


def _subparsers(parser):
    """Every parser below ``parser`` (sub-commands and their own actions, e.g. ``synth clip``)."""
    out = []
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for child in dict.fromkeys(action.choices.values()):
                out.append(child)
                out.extend(_subparsers(child))
    return out


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
    return level


def _error(message, code):
    for line in str(message).splitlines() or [message]:
        print("edgepose: error: %s" % line, file=sys.stderr)
    return code


def _os_error_line(e):
    """'PATH: No space left on device' for an OSError that names a file, else None."""
    if getattr(e, "filename", None) is None:
        return None
    return "%s: %s" % (e.filename, e.strerror or e)


def _quiet_broken_pipe():
    """stdout's reader went away (``| head``): point stdout at /dev/null so the interpreter's final
    flush does not complain again."""
    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
    except (OSError, ValueError, AttributeError):
        pass
    return 141


def main(argv=None):
    parser = build_parser()
    args = parser.parse_args(argv)
    if not getattr(args, "func", None):
        parser.print_help()
        return 2
    setup_logging(args.verbose, args.quiet)
    log.debug("edgepose %s, Python %s: %s", __version__, sys.version.split()[0],
              " ".join(sys.argv[1:] if argv is None else argv))
    try:
        code = int(args.func(args) or 0)
        sys.stdout.flush()
        return code
    except EdgeposeError as e:
        return _error(str(e) or type(e).__name__, e.exit_code)
    except BrokenPipeError:
        return _quiet_broken_pipe()
    except OSError as e:
        line = _os_error_line(e)
        if line is None:
            raise
        return _error(line, 1)
    except KeyboardInterrupt:
        print("edgepose: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
