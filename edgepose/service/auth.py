"""Who may use the daemon's HTTP endpoints: loopback by default, a token for anything else.

Binding a non-loopback address needs a token (``EDGEPOSE_HTTP_TOKEN`` or the systemd credential
``$CREDENTIALS_DIRECTORY/http_token``); the server refuses to start without one. With a token every
request needs ``Authorization: Bearer TOKEN`` (or HTTP Basic with the token as password, so a
browser can open the MJPEG preview), compared in constant time.
"""
import base64
import hmac
import ipaddress

from ..errors import ConfigError
from ..validation import read_secret

TOKEN_ENV = "EDGEPOSE_HTTP_TOKEN"
TOKEN_CREDENTIAL = "http_token"


def is_loopback(host):
    if host in ("localhost",):
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def resolve_token(env=None, token_file=None):
    """The HTTP token: ``$EDGEPOSE_HTTP_TOKEN``, ``$CREDENTIALS_DIRECTORY/http_token`` or ``token_file``."""
    return read_secret(TOKEN_ENV, TOKEN_CREDENTIAL, path=token_file, env=env, chars=None)


def check_bind(host, token):
    """Refuse to serve a non-loopback address without a token."""
    if not is_loopback(host) and not token:
        raise ConfigError(
            "http.host %r is not a loopback address: set a token (env %s, or systemd LoadCredential=%s:FILE) "
            "or bind 127.0.0.1" % (host, TOKEN_ENV, TOKEN_CREDENTIAL))


def authorized(header, token):
    """True when ``header`` (the Authorization value) carries ``token``; constant-time compare."""
    if not token:
        return True
    if not header:
        return False
    scheme, _, value = header.strip().partition(" ")
    value = value.strip()
    if scheme.lower() == "basic":
        try:
            value = base64.b64decode(value, validate=True).decode("utf-8").partition(":")[2]
        except (ValueError, UnicodeDecodeError):
            return False
    elif scheme.lower() != "bearer":
        return False
    return hmac.compare_digest(value.encode("utf-8"), token.encode("utf-8"))
