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
    except yaml.YAMLError as e:
        mark = getattr(e, "problem_mark", None)
        where = " line %d" % (mark.line + 1) if mark is not None else ""
        raise ConfigError("%s:%s: not valid YAML (%s)" % (path, where, getattr(e, "problem", e)))
    if data is None:
        data = {}
    if not isinstance(data, dict):
        raise ConfigError("%s: expected a mapping of keys at the top level, got %s" % (path, type(data).__name__))
    return data


def format_validation_error(err, where):
    """Turn a pydantic ``ValidationError`` into lines ``WHERE: key.path: value V: message``."""
    lines = []
    for e in err.errors():
        loc = ".".join(str(p) for p in e.get("loc", ())) or "(top level)"
        msg = e.get("msg", "invalid")
        if e.get("type") == "extra_forbidden":
            msg = "unknown key (check the spelling; unknown keys are not ignored)"
        value = e.get("input")
        shown = "" if isinstance(value, dict) or e.get("type") == "missing" else "value %r: " % (value,)
        lines.append("%s: %s: %s%s" % (where, loc, shown, msg))
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
