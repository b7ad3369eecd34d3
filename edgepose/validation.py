"""YAML loading and schema validation shared by model profiles and the runtime config, and the one
reader of secrets.

Schemas are pydantic v2 models that forbid unknown keys. A validation failure becomes one
``ConfigError`` line per bad key: ``FILE: key.path: value X: what is expected``. Validation has no
side effects: secrets (MQTT password, webhook and HTTP tokens) never live in the YAML, which only
names where they are; ``read_secret`` reads them when the part that needs one starts.
"""
import os

import yaml
from pydantic import BaseModel, ConfigDict, ValidationError

from .errors import ConfigError


class Strict(BaseModel):
    """Base for every schema: unknown keys are errors, values are validated on assignment."""

    model_config = ConfigDict(extra="forbid", validate_assignment=True, frozen=False)


def load_yaml(path):
    """Read a YAML mapping from ``path``; one clear error for a missing file or bad YAML."""
    path = os.fspath(path)
    if not os.path.isfile(path):
        raise ConfigError("%s: file not found (check the path)" % path)
    try:
        with open(path, "r", encoding="utf-8") as f:
            data = yaml.safe_load(f)
    except UnicodeDecodeError:
        raise ConfigError("%s: not a YAML text file (it holds binary data%s)"
                          % (path, ": a model goes to --model, a profile YAML to --profile"
                             if path.lower().endswith((".onnx", ".engine", ".plan", ".trt")) else ""))
    except yaml.YAMLError as e:
        mark = getattr(e, "problem_mark", None)
        where = " line %d" % (mark.line + 1) if mark is not None else ""
        raise ConfigError("%s:%s: not valid YAML (%s)" % (path, where, getattr(e, "problem", e)))
    if data is None:
        data = {}
    if not isinstance(data, dict):
        raise ConfigError("%s: expected a mapping of keys at the top level, got %s" % (path, type(data).__name__))
    return data


_PREFIXES = ("Value error, ", "Assertion failed, ")
_UNION_MEMBERS = ("bool", "int", "float", "str")


def _message(e):
    """pydantic's message for one error, in edgepose's words."""
    kind, msg, ctx = e.get("type", ""), e.get("msg", "invalid"), e.get("ctx") or {}
    if kind == "extra_forbidden":
        return "unknown key (check the spelling; unknown keys are not ignored)"
    if kind == "missing":
        return "missing (required)"
    if kind == "too_long":
        return "too many items (%s, at most %s)" % (ctx.get("actual_length", "?"), ctx.get("max_length", "?"))
    if kind == "too_short":
        return "too few items (%s, at least %s)" % (ctx.get("actual_length", "?"), ctx.get("min_length", "?"))
    if kind in ("tuple_type", "list_type"):
        return "expected a list, e.g. [1, 2]"
    if kind in ("dict_type", "model_type", "model_attributes_type"):
        return "expected a mapping of keys (key: value)"
    if kind in ("int_parsing", "int_type", "int_from_float"):
        return "expected a whole number"
    if kind in ("float_parsing", "float_type"):
        return "expected a number"
    if kind in ("bool_parsing", "bool_type"):
        return "expected true or false"
    if kind in ("string_type",):
        return "expected text"
    for prefix in _PREFIXES:
        if msg.startswith(prefix):
            return msg[len(prefix):]
    if msg.startswith("Input should be "):
        return "expected " + msg[len("Input should be "):]
    return msg


def _shown(value):
    """'value X: ' for a short scalar or list; nothing for mappings and long values."""
    if isinstance(value, dict):
        return ""
    text = repr(value)
    return "" if len(text) > 60 else "value %s: " % text


def format_validation_error(err, where):
    """Turn a pydantic ``ValidationError`` into lines ``WHERE: key.path: value V: message``."""
    lines, seen = [], set()
    for e in err.errors():
        loc = list(e.get("loc", ()))
        kind = e.get("type", "")
        if e.get("type") == "missing" and loc and isinstance(loc[-1], int):   # a short fixed-length list
            loc, msg, value = loc[:-1], "too few items (item %d is missing)" % (loc[-1] + 1), None
        elif len(loc) > 1 and loc[-1] in _UNION_MEMBERS and kind.endswith(("_type", "_parsing")):
            loc, msg, value = loc[:-1], "expected true/false, a number or text", e.get("input")
        else:
            msg, value = _message(e), e.get("input")
        path = ".".join(str(p) for p in loc)
        shown = "" if kind == "missing" or value is None else _shown(value)
        line = "%s: %s%s%s" % (where, path + ": " if path else "", shown, msg)
        if line not in seen:
            seen.add(line)
            lines.append(line)
    return "\n".join(lines)


def validate(schema, data, where):
    """Validate ``data`` against pydantic ``schema``; raise ``ConfigError`` naming every bad key."""
    try:
        return schema.model_validate(data)
    except ValidationError as e:
        raise ConfigError(format_validation_error(e, where))


def read_secret(env_name, credential_name, path=None, env=None, chars="\r\n"):
    """A secret from ``$env_name``, else ``$CREDENTIALS_DIRECTORY/credential_name`` (systemd
    ``LoadCredential=``), else the file ``path``; None when none of them has one.

    chars: what is stripped from both ends (default: line endings; None: all whitespace). An
    unreadable file is a ``ConfigError`` naming it.
    """
    env = os.environ if env is None else env
    value = (env.get(env_name) or "").strip(chars) if env_name else ""
    if value:
        return value
    paths = []
    if env.get("CREDENTIALS_DIRECTORY") and credential_name:
        paths.append(os.path.join(env["CREDENTIALS_DIRECTORY"], credential_name))
    if path:
        paths.append(path)
    for p in paths:
        if os.path.isfile(p):
            try:
                with open(p, "r", encoding="utf-8") as f:
                    value = f.read().strip(chars)
            except OSError as e:
                raise ConfigError("%s: cannot read the secret (%s)" % (p, e.strerror or e))
            if value:
                return value
    return None
