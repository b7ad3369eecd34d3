"""Annotated video output: frames with the people drawn on them, written with OpenCV.

``VideoWriterSink(path, fps)`` opens the writer on the first frame (its size is the source's);
``write(result)`` draws the result on a copy of the frame (``edgepose.draw.draw_result``: skeletons,
each tracked person's id and posture, the open fall / long-lie alerts) and appends it; ``close()``
finalises the file. The codec follows the extension: ``.mp4`` -> mp4v, ``.avi`` -> MJPG,
``.mkv`` -> XVID. This is a per-frame output for ``edgepose run --out``, not an event sink.
"""
import logging
import os

from .. import deps
from ..draw import draw_result
from ..errors import SinkError

log = logging.getLogger(__name__)

_CODECS = {".mp4": "mp4v", ".m4v": "mp4v", ".mov": "mp4v", ".avi": "MJPG", ".mkv": "XVID"}


class VideoWriterSink:
    """Write annotated frames to ``path`` at ``fps`` frames per second."""

    def __init__(self, path, fps=30.0, draw=True):
        self.path = os.fspath(path)
        ext = os.path.splitext(self.path)[1].lower()
        if ext not in _CODECS:
            raise SinkError("%s: unsupported video extension %r (use %s)" % (self.path, ext, ", ".join(sorted(_CODECS))))
        parent = os.path.dirname(os.path.abspath(self.path))
        if not os.path.isdir(parent):
            raise SinkError("%s: folder %s does not exist" % (self.path, parent))
        self.fourcc = _CODECS[ext]
        self.fps = float(fps) if fps and fps > 0 else 30.0
        self.draw = draw
        self.frames = 0
        self._writer = None
        self._size = None

    def _open(self, w, h):
        cv2 = deps.load("cv2", "video output")
        self._writer = cv2.VideoWriter(self.path, cv2.VideoWriter_fourcc(*self.fourcc), self.fps, (w, h))
        if not self._writer.isOpened():
            raise SinkError("%s: OpenCV cannot write %s video here (try .avi)" % (self.path, self.fourcc))
        self._size = (w, h)
        log.info("%s: writing %dx%d at %.1f fps (%s)", self.path, w, h, self.fps, self.fourcc)

    def write_image(self, image):
        cv2 = deps.load("cv2", "video output")
        h, w = image.shape[:2]
        if self._writer is None:
            self._open(w, h)
        if (w, h) != self._size:
            image = cv2.resize(image, self._size)
        self._writer.write(image)
        self.frames += 1

    def write(self, result, other_alerts=()):
        """Append the frame of ``result``, annotated (unless ``draw=False``); returns that image.
        other_alerts: labels of open alerts whose person is not on this frame (for the banner)."""
        image = result.frame.image.copy()
        if self.draw:
            draw_result(image, result, other_alerts)
        self.write_image(image)
        return image

    def close(self, timeout=None):
        if self._writer is not None:
            self._writer.release()
            self._writer = None
