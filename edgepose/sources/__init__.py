"""Frame sources named by URI, in jetson-inference's style.

``open_source(uri, **options) -> Source``:

==============================  ===============================================================
``csi://0``                     Jetson CSI camera (GStreamer ``nvarguscamerasrc``; needs OpenCV
                                with GStreamer). Options: width, height, fps, flip.
``/dev/video0``, ``v4l2:///dev/video0``, ``0``
                                USB camera through V4L2. Options: width, height, fps.
``rtsp://...``, ``http(s)://...``
                                network stream: GStreamer hardware decode (``nvv4l2decoder``)
                                when available, else OpenCV's FFMPEG. Options: latency, codec.
``clip.mp4``, ``file://clip.mp4``  a video file. Options: loop, realtime.
``frames/``, ``frames/*.jpg``, ``photo.jpg``
                                images of a folder / glob (sorted), or one image. Options: loop,
                                realtime, fps (spacing of their timestamps, default 30).
==============================  ===============================================================

Options can also be given in the URI's query string: ``/dev/video0?width=1280&height=720&fps=30``.
Cameras and streams are *live* (newest frame wins, reconnect with backoff when lost); files are
read in order without dropping. ``capture_factory`` replaces ``cv2.VideoCapture`` (tests).
"""
import glob
import logging
import os

from ..errors import SourceError, UsageError
from .base import CaptureSpec, Source, opencv_capture  # noqa: F401
from .files import ArraySource, ImageSource, VideoFileSource
from .images import is_image_file, list_images
from .gst import csi_pipeline, gst_element_available, opencv_has_gstreamer, require_gstreamer, rtsp_pipeline
from .live import LiveSource
from . import options as options_table

log = logging.getLogger(__name__)

__all__ = ["open_source", "Source", "ArraySource", "CaptureSpec", "LiveSource", "VideoFileSource", "ImageSource", "opencv_capture"]

_LIVE_KEYS = options_table.LIVE + ("start_down", "capture_factory")


def _check_options(kind, uri, options):
    problems = options_table.option_problems(kind, options)
    if problems:
        raise UsageError("source %s: %s" % (redact(uri), "; ".join(problems)))


def _live_kwargs(options):
    return {k: options[k] for k in _LIVE_KEYS if k in options and options[k] is not None}


def _classify(uri):
    """(kind, target) for a URI."""
    low = uri.lower()
    if low.startswith("csi://"):
        return "csi", uri[6:] or "0"
    if low.startswith("v4l2://"):
        return "v4l2", uri[7:]
    if low.startswith(("rtsp://", "rtsps://", "http://", "https://", "rtmp://")):
        return "stream", uri
    if low.startswith("file://"):
        uri = uri[7:]
    if uri.isdigit():
        return "v4l2", "/dev/video" + uri
    if uri.startswith("/dev/video"):
        return "v4l2", uri
    if os.path.isdir(uri):
        return "images", uri
    if any(c in uri for c in "*?["):
        return "images", uri
    if os.path.isfile(uri):
        return ("images" if is_image_file(uri) else "video"), uri
    raise SourceError("source %r: no such file, folder or device (give csi://0, /dev/video0, rtsp://..., "
                      "a video file, an image folder or a glob)" % uri)


def open_source(uri, **options):
    """Open a frame source by URI (see the module doc). Returns a ``Source``."""
    if isinstance(uri, Source):
        return uri
    uri = os.fspath(uri) if not isinstance(uri, int) else str(uri)
    uri, query = options_table.split_query(uri)
    opts = dict(query)
    opts.update({k: v for k, v in options.items() if v is not None})
    kind, target = _classify(uri)
    if kind in ("csi", "v4l2", "stream"):
        for key in ("loop", "realtime"):   # meaningful for files only; a live source is real time already
            opts.pop(key, None)
    _check_options(kind, uri, opts)
    factory = opts.get("capture_factory")
    name = opts.get("name")

    if kind == "csi":
        if factory is None:
            require_gstreamer("CSI camera %s" % uri)
        try:
            sensor = int(target)
        except ValueError:
            raise UsageError("source %s: the CSI sensor id must be a number, e.g. csi://0" % uri)
        pipe = csi_pipeline(sensor, width=opts.get("width", 1280), height=opts.get("height", 720),
                            fps=opts.get("fps", 30), flip=opts.get("flip", 0),
                            capture_width=opts.get("capture_width", 1920),
                            capture_height=opts.get("capture_height", 1080))
        log.info("%s: GStreamer pipeline: %s", uri, pipe)
        return LiveSource(CaptureSpec(pipe, "gstreamer"), name or "csi%d" % sensor, uri=uri, **_live_kwargs(opts))

    if kind == "v4l2":
        props = tuple((k, float(opts[k])) for k in ("width", "height", "fps") if k in opts)
        if factory is None and not os.path.exists(target):
            raise SourceError("%s: no such video device (is the camera plugged in? `ls /dev/video*` lists them)" % target)
        return LiveSource(CaptureSpec(target, "v4l2", props), name or os.path.basename(target), uri=uri,
                          **_live_kwargs(opts))

    if kind == "stream":
        hardware = opts.get("hardware", "auto")
        use_gst = False
        if factory is None and hardware in ("auto", True) and uri.lower().startswith(("rtsp://", "rtsps://")):
            use_gst = opencv_has_gstreamer() and gst_element_available("nvv4l2decoder")
            if hardware is True and not use_gst:
                require_gstreamer("hardware decoding of %s" % uri)
                raise SourceError("%s: hardware=true but GStreamer's nvv4l2decoder is not available" % uri)
        if use_gst:
            spec = CaptureSpec(rtsp_pipeline(uri, opts.get("latency", 200), opts.get("codec", "h264")), "gstreamer")
        else:
            spec = CaptureSpec(uri, "ffmpeg")
        log.info("%s: opening with %s", redact(uri), "GStreamer nvv4l2decoder" if use_gst else "FFMPEG")
        return LiveSource(spec, name or _stream_name(uri), uri=redact(uri), **_live_kwargs(opts))

    if kind == "video":
        return VideoFileSource(target, loop=bool(opts.get("loop", False)), realtime=bool(opts.get("realtime", False)),
                               capture_factory=factory, name=name, start_time=opts.get("start_time"))

    # images: a folder, a glob or one image
    if os.path.isdir(target):
        paths = list_images(target)
        default_name = os.path.basename(os.path.normpath(target))
    elif os.path.isfile(target):
        paths, default_name = [target], os.path.basename(target)
    else:
        paths = sorted(p for p in glob.glob(target) if is_image_file(p))
        default_name = os.path.basename(os.path.dirname(target)) or "images"
    return ImageSource(paths, name or default_name, loop=bool(opts.get("loop", False)),
                       realtime=bool(opts.get("realtime", False)), fps=float(opts.get("fps", 30.0)),
                       start_time=opts.get("start_time"), uri=uri)


def redact(url):
    """rtsp://user:pass@host/... -> rtsp://user:***@host/... (for logs and names)."""
    head, sep, rest = url.partition("://")
    if "@" in rest.split("/", 1)[0]:
        cred, _, host = rest.partition("@")
        user = cred.split(":", 1)[0]
        return "%s%s%s:***@%s" % (head, sep, user, host)
    return url


def _stream_name(url):
    rest = url.partition("://")[2]
    host = rest.split("/", 1)[0].rpartition("@")[2]
    return host or "stream"
