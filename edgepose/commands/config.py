"""``edgepose config check FILE`` and ``edgepose config example``: the runtime config of ``serve``."""
import os

NAME = "config"
HELP = "check a runtime config file, or print the commented full example"
DESCRIPTION = """\
check FILE   validate FILE (unknown keys are errors; every bad key is listed with its path and value): a
             service config (sources:, model:, ...), or a file with only analytics:/sinks: (what
             `run --config` and `replay --config` take); source options are checked too
example      print the commented full example config (the same text as systemd/config.example.yaml)"""


def add_arguments(p):
    p.add_argument("action", choices=["check", "example"])
    p.add_argument("file", nargs="?", help="config file (for check)")


def run(args):
    from ..config import check_config_file, example_yaml
    from ..errors import UsageError

    if args.action == "example":
        print(example_yaml(), end="")
        return 0
    if not args.file:
        raise UsageError("config check: give the config file, e.g. edgepose config check /etc/edgepose/config.yaml")
    from ..sources import redact

    kind, cfg = check_config_file(args.file)
    if kind == "analytics":
        print("%s: ok (analytics and sinks only: for `edgepose run --config` and `edgepose replay --config`; "
              "`edgepose serve` needs sources too)" % args.file)
        print("  zones %d, sinks %s" % (len(cfg.analytics.zones), ", ".join(_enabled_sinks(cfg.sinks)) or "none"))
        return 0
    print("%s: ok" % args.file)
    for s in cfg.sources:
        print("  source %-12s %s%s" % (s.name, redact(s.uri), " (%d zones)" % len(s.zones) if s.zones else ""))
    m = cfg.model
    net = m.engine or m.model or "bundled demo model"
    print("  model  %s%s" % (net, " (profile %s)" % m.profile if m.profile else ""))
    for note in notes(cfg):
        print("  note: %s" % note)
    return 0


def _enabled_sinks(sinks):
    return [name for name, value in sinks if getattr(value, "enabled", False)]


def notes(cfg):
    """Things that validate but will fail or surprise at start (missing files, tokens)."""
    from ..service.auth import is_loopback, resolve_token

    out = []
    for key in ("model", "engine"):
        path = getattr(cfg.model, key)
        if path and not os.path.isfile(path):
            out.append("model.%s %s does not exist here (fine if this file is for another machine)" % (key, path))
    if not cfg.model.model and not cfg.model.engine:
        from ..profiles.resolve import bundled_model_warning

        warning = bundled_model_warning([s.uri for s in cfg.sources], fix="set model.model (e.g. a TAO "
                                        "BodyPoseNet ONNX, profile tao-bpnet) or model.engine and model.profile")
        if warning:
            out.append(warning)
    if cfg.http.enabled and not is_loopback(cfg.http.host) and not resolve_token(token_file=cfg.http.token_file):
        out.append("http.host %s needs a token at start (EDGEPOSE_HTTP_TOKEN or credential http_token); "
                   "none is visible here" % cfg.http.host)
    return out
