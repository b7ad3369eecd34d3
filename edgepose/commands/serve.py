"""``edgepose serve``: the daemon (systemd Type=notify), from a config file or quick-start flags."""
import os
import re

from ..errors import UsageError

NAME = "serve"
HELP = "run the pose/fall service: cameras, shared engine, alerts, HTTP health/metrics/preview"
DESCRIPTION = """\
Run the service from a config file (see `edgepose config example`), or quick-start without one:

  edgepose serve --config /etc/edgepose/config.yaml
  edgepose serve --source /dev/video0 --engine pose.engine --profile tao-bpnet --http 127.0.0.1:8080
  edgepose serve --source clip.mp4 --loop            (bundled demo model on ONNX Runtime)

Flags override the file's values. SIGHUP re-reads the file (thresholds, zones and sinks change without
reloading the engine; an invalid file is refused), SIGTERM/SIGINT drain, flush the sinks and exit 0.
HTTP: /healthz /metrics /snapshot.jpg?source= /stream.mjpg?source= /events?since="""


def add_arguments(p):
    p.add_argument("--config", metavar="FILE", help="runtime config YAML (re-read on SIGHUP)")
    p.add_argument("--source", action="append", metavar="URI",
                   help="camera/stream/file/folder (repeatable); replaces the file's sources")
    p.add_argument("--loop", action="store_true", help="loop file sources given with --source")
    p.add_argument("--realtime", action="store_true", help="read file sources at their real-time pace")
    net = p.add_mutually_exclusive_group()
    net.add_argument("--model", metavar="M.onnx", help="ONNX model (default: the bundled demo model)")
    net.add_argument("--engine", metavar="E.engine", help="TensorRT engine built on this device")
    p.add_argument("--profile", help="model profile name or YAML (needed with --engine)")
    p.add_argument("--http", metavar="HOST:PORT", help="HTTP address (default 127.0.0.1:8080); 'off' disables")
    p.add_argument("--log-level", choices=["debug", "info", "warning", "error"],
                   help="overrides logging.level of the file (as -q: warning, -vv: debug, which work here too)")


def source_name(uri, taken):
    """A config-safe name for a quick-start source: 'video0', 'csi0', 'clip', then '-2', '-3'..."""
    base = uri.split("?", 1)[0].rstrip("/")
    if base.lower().startswith("csi://"):
        name = "csi" + base[6:]
    elif "://" in base and not base.lower().startswith("file://"):
        name = base.split("://", 1)[1].split("/", 1)[0].rpartition("@")[2].split(":")[0]
    else:
        name = os.path.splitext(os.path.basename(base))[0] or "camera"
    name = re.sub(r"[^A-Za-z0-9_.-]+", "-", name).strip("-.") or "camera"
    if not name[0].isalnum():
        name = "s" + name
    unique, i = name, 2
    while unique in taken:
        unique, i = "%s-%d" % (name, i), i + 1
    return unique


def parse_http(text):
    if text.lower() == "off":
        return {"enabled": False}
    host, sep, port = text.rpartition(":")
    if not sep or not port.isdigit():
        raise UsageError("--http %r: expected HOST:PORT (e.g. 127.0.0.1:8080, 0.0.0.0:8080) or off" % text)
    return {"enabled": True, "host": host.strip("[]") or "127.0.0.1", "port": int(port)}


def overrides_from(args):
    """The nested config dict the flags set."""
    ov = {}
    if args.source:
        names, sources = set(), []
        for uri in args.source:
            name = source_name(uri, names)
            names.add(name)
            opts = {}
            if args.loop:
                opts["loop"] = True
            if args.realtime:
                opts["realtime"] = True
            sources.append({"name": name, "uri": uri, "options": opts})
        ov["sources"] = sources
    elif args.loop or args.realtime:
        raise UsageError("--loop/--realtime apply to --source; set options.loop in the config file instead")
    model = {}
    if args.model:
        model.update(model=args.model, engine=None)
    if args.engine:
        model.update(engine=args.engine, model=None)
    if args.profile:
        model["profile"] = args.profile
    if model:
        ov["model"] = model
    if args.http:
        ov["http"] = parse_http(args.http)
    level = args.log_level or ("warning" if getattr(args, "quiet", False) else
                               "debug" if (getattr(args, "verbose", 0) or 0) > 1 else None)
    if level:
        ov["logging"] = {"level": level}
    return ov


def run(args):
    from ..service import Service

    if not args.config and not args.source:
        raise UsageError("give --config FILE or --source URI (see `edgepose serve --help`)")
    return Service(args.config, overrides_from(args)).run()
