"""Source options (``/dev/video0?width=1280&fps=15``, or ``options:`` of a source in the config):
which ones each kind of source takes, and what values they accept.

One table, used twice: when a source is opened (query string and keyword options) and by
``edgepose config check`` (which must not open anything, so there the kind of a source is told from
its URI alone). ``option_problems(kind, options)`` lists what is wrong, one phrase per option.
"""
import os
from urllib.parse import parse_qsl

from .images import is_image_file

VIDEO_SUFFIXES = (".mp4", ".m4v", ".mov", ".avi", ".mkv", ".webm", ".mpg", ".mpeg", ".ts", ".h264", ".h265",
                  ".wmv", ".flv", ".3gp")


def _positive_int(v):
    return isinstance(v, int) and not isinstance(v, bool) and v > 0


def _number(v):
    return isinstance(v, (int, float)) and not isinstance(v, bool)


# option -> (what it must be, check)
VALUES = {
    "width": ("a positive whole number of pixels", _positive_int),
    "height": ("a positive whole number of pixels", _positive_int),
    "capture_width": ("a positive whole number of pixels", _positive_int),
    "capture_height": ("a positive whole number of pixels", _positive_int),
    "fps": ("a positive number of frames per second", lambda v: _number(v) and v > 0),
    "flip": ("a whole number 0..7 (nvvidconv flip-method)",
             lambda v: isinstance(v, int) and not isinstance(v, bool) and 0 <= v <= 7),
    "latency": ("a whole number of milliseconds >= 0",
                lambda v: isinstance(v, int) and not isinstance(v, bool) and v >= 0),
    "codec": ("h264 or h265", lambda v: v in ("h264", "h265")),
    "hardware": ("true, false or auto", lambda v: isinstance(v, bool) or v == "auto"),
    "loop": ("true or false", lambda v: isinstance(v, bool)),
    "realtime": ("true or false", lambda v: isinstance(v, bool)),
    "retry_delay": ("a positive number of seconds", lambda v: _number(v) and v > 0),
    "max_retry_delay": ("a positive number of seconds", lambda v: _number(v) and v > 0),
    "max_retries": ("a whole number >= 0",
                    lambda v: v is None or (isinstance(v, int) and not isinstance(v, bool) and v >= 0)),
    "wait_first": ("a number of seconds >= 0", lambda v: v is None or (_number(v) and v >= 0)),
    "name": ("a name", lambda v: isinstance(v, str) and bool(v)),
    "start_time": ("a time in seconds", _number),
    "capture_factory": ("a callable", callable),
    "start_down": ("true or false", lambda v: isinstance(v, bool)),
}

KNOWN = {
    "csi": ("width", "height", "fps", "flip", "capture_width", "capture_height"),
    "v4l2": ("width", "height", "fps"),
    "stream": ("latency", "codec", "hardware"),
    "video": ("loop", "realtime"),
    "images": ("loop", "realtime", "fps"),
}
KNOWN["file"] = tuple(sorted(set(KNOWN["video"]) | set(KNOWN["images"])))  # video or images: not told yet
LIVE = ("retry_delay", "max_retry_delay", "max_retries", "wait_first")
GENERIC = ("name", "capture_factory", "start_time", "start_down")  # set by edgepose itself, not by users
_USER_GENERIC = LIVE                     # what a user may set on any live source
_FILE_ONLY = ("loop", "realtime")        # accepted (and ignored) on live sources: they are real time


def convert(value):
    """A query-string value as the type it spells: 'true' -> True, '640' -> 640, '2.5' -> 2.5."""
    if not isinstance(value, str):
        return value
    low = value.lower()
    if low in ("true", "yes", "on"):
        return True
    if low in ("false", "no", "off"):
        return False
    for kind in (int, float):
        try:
            return kind(value)
        except ValueError:
            pass
    return value


def split_query(uri):
    """'path?width=640&fps=15' -> ('path', {'width': 640, 'fps': 15}); URLs keep their own query."""
    if "?" not in uri or uri.lower().startswith(("rtsp://", "rtsps://", "http://", "https://", "rtmp://")):
        return uri, {}
    base, _, query = uri.partition("?")
    return base, {k: convert(v) for k, v in parse_qsl(query, keep_blank_values=True)}


def kind_from_uri(uri):
    """The kind of source a URI names, told from its text alone (nothing is opened or looked up,
    except whether a plain path is an existing folder): csi, v4l2, stream, video, images or file
    (a path that could be a video or images)."""
    low = uri.lower()
    if low.startswith("csi://"):
        return "csi"
    if low.startswith("v4l2://") or uri.isdigit() or uri.startswith("/dev/video"):
        return "v4l2"
    if low.startswith(("rtsp://", "rtsps://", "http://", "https://", "rtmp://")):
        return "stream"
    path = uri[7:] if low.startswith("file://") else uri
    if os.path.isdir(path) or any(c in path for c in "*?[") or is_image_file(path):
        return "images"
    if path.lower().endswith(VIDEO_SUFFIXES):
        return "video"
    return "file"


def allowed(kind):
    """The options a source of ``kind`` takes (for messages: without the programmatic ones)."""
    extra = _USER_GENERIC + _FILE_ONLY if kind in ("csi", "v4l2", "stream") else ()
    return tuple(KNOWN[kind]) + extra


def option_problems(kind, options):
    """One phrase per bad option (unknown for this kind of source, or a bad value); [] when all fit."""
    ok = set(allowed(kind)) | set(GENERIC)
    out = []
    unknown = sorted(k for k in options if k not in ok)
    if unknown:
        out.append("unknown option%s %s for a %s source (known: %s)"
                   % ("s" if len(unknown) > 1 else "", ", ".join(unknown), _kind_name(kind),
                      ", ".join(sorted(KNOWN[kind] + (LIVE if kind in ("csi", "v4l2", "stream") else ())))))
    for key in sorted(options):
        if key in unknown or key not in VALUES:
            continue
        what, check = VALUES[key]
        value = options[key]
        if not check(value):
            out.append("option %s=%s: expected %s" % (key, value if not isinstance(value, str) else repr(value), what))
    return out


def _kind_name(kind):
    return {"csi": "CSI camera", "v4l2": "V4L2 camera", "stream": "network stream", "video": "video file",
            "images": "image folder", "file": "file"}[kind]
