"""The source protocol shared by cameras, streams, video files and image folders.

A ``Source`` yields ``edgepose.types.Frame`` objects (BGR uint8 image, capture time ``t`` in seconds,
frame ``index`` from 0, source ``name``). ``read(timeout)`` returns the next frame, or ``None`` at
the end (files) or after ``close()``. Live sources (cameras, streams) keep only the newest frame and
count the ones nobody read in ``dropped``; file sources never drop.

The capture layer is injectable: a *capture factory* ``factory(spec) -> capture`` where ``spec`` is a
``CaptureSpec`` and the capture has OpenCV's ``VideoCapture`` methods ``isOpened()``, ``read() ->
(ok, image)``, ``get(prop)`` and ``release()``. Tests pass a fake camera; the default opens
``cv2.VideoCapture``.
"""
from dataclasses import dataclass
from typing import Any, Dict, Optional, Tuple

from .. import deps
from ..errors import SourceError


@dataclass(frozen=True)
class CaptureSpec:
    """What to open: ``target`` (device path, URL, file or GStreamer pipeline), ``api`` (an OpenCV
    ``CAP_*`` name: "any", "v4l2", "ffmpeg", "gstreamer"), ``props`` (OpenCV properties to set after
    opening, by name: "width", "height", "fps")."""

    target: Any
    api: str = "any"
    props: Tuple[Tuple[str, float], ...] = ()


_API_NAMES = {"any": "CAP_ANY", "v4l2": "CAP_V4L2", "ffmpeg": "CAP_FFMPEG", "gstreamer": "CAP_GSTREAMER"}
_PROP_NAMES = {"width": "CAP_PROP_FRAME_WIDTH", "height": "CAP_PROP_FRAME_HEIGHT", "fps": "CAP_PROP_FPS"}


def opencv_capture(spec):
    """The default capture factory: ``cv2.VideoCapture(spec.target, api)`` with ``spec.props`` set."""
    cv2 = deps.load("cv2", "camera, video and image sources")
    cap = cv2.VideoCapture(spec.target, getattr(cv2, _API_NAMES.get(spec.api, "CAP_ANY")))
    for name, value in spec.props:
        cap.set(getattr(cv2, _PROP_NAMES[name]), float(value))
    return cap


class Source:
    """Base class. Subclasses implement ``read(timeout=None) -> Optional[Frame]`` and ``close()``.

    Attributes: ``name``; ``live`` (True: newest frame wins, frames may be dropped); ``dropped``
    (frames captured but never read); ``fps`` (nominal rate, or None); ``uri``.
    """

    live = False

    def __init__(self, name, uri=None):
        self.name = name
        self.uri = uri if uri is not None else name
        self.dropped = 0
        self.fps = None  # type: Optional[float]
        self.closed = False

    def read(self, timeout=None):
        raise NotImplementedError

    def close(self):
        self.closed = True

    def __iter__(self):
        while True:
            frame = self.read()
            if frame is None:
                return
            yield frame

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    def describe(self):  # type: () -> Dict[str, Any]
        return {"name": self.name, "uri": self.uri, "live": self.live, "fps": self.fps, "dropped": self.dropped}

    def __repr__(self):
        return "%s(%r)" % (type(self).__name__, self.uri)


def check_opened(cap, what):
    if cap is None or not cap.isOpened():
        raise SourceError("%s: cannot open it (check the path/URL, permissions and that no other program "
                          "holds the device)" % what)
    return cap
