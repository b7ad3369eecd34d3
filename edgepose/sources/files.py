"""File sources: a video file (optionally looped, optionally at real-time pace) and image folders/globs.

Files are read in order and never drop a frame. ``t`` is media time: the source's start time (the
wall clock when it was opened) plus the position in the file, so analytics see the file's own timing.
With ``realtime=True`` reading waits until the wall clock catches up with the media time, like a
camera would deliver it.
"""
import logging
import os
import time

from ..errors import SourceError
from ..types import Frame
from .base import CaptureSpec, Source, check_opened, opencv_capture
from .images import IMAGE_SUFFIXES, load_image

log = logging.getLogger(__name__)



class _Pacer:
    """Sleeps so that media time ``pos`` is delivered no earlier than ``wall0 + pos``."""

    def __init__(self, enabled):
        self.enabled = enabled
        self.wall0 = None

    def wait(self, pos, stop_check=None):
        if not self.enabled:
            return
        now = time.monotonic()
        if self.wall0 is None:
            self.wall0 = now - pos
            return
        delay = self.wall0 + pos - now
        if delay > 0:
            time.sleep(delay)


class VideoFileSource(Source):
    """Frames of a video file in order. ``loop``: start again at the end (index and t keep growing)."""

    def __init__(self, path, loop=False, realtime=False, capture_factory=None, name=None, start_time=None):
        super().__init__(name or os.path.basename(path), uri=path)
        self.path = path
        self.loop = loop
        self.factory = capture_factory or opencv_capture
        self.start_time = time.time() if start_time is None else float(start_time)
        self._pacer = _Pacer(realtime)
        self._cap = None
        self._index = 0
        self._offset = 0.0      # media time of the current pass's start (grows when looping)
        self._last_pos = 0.0
        self._pass_frames = 0
        self._open()

    def _open(self):
        cap = check_opened(self.factory(CaptureSpec(self.path, "any")), self.path)
        fps = float(cap.get(5) or 0.0)  # cv2.CAP_PROP_FPS == 5
        self.fps = fps if 0 < fps < 1000 else 30.0
        self._cap = cap
        self._pass_frames = 0

    def read(self, timeout=None):
        while not self.closed:
            ok, image = self._cap.read()
            if ok and image is not None:
                pos = self._pass_frames / self.fps
                self._pass_frames += 1
                self._last_pos = pos
                media = self._offset + pos
                self._pacer.wait(media)
                frame = Frame(image, self.start_time + media, self._index, self.name)
                self._index += 1
                return frame
            if not self.loop or self._pass_frames == 0:
                if self._index == 0:
                    raise SourceError("%s: no frame could be decoded (unsupported codec or not a video)" % self.path)
                return None
            log.debug("%s: end of file after %d frames, looping", self.path, self._pass_frames)
            self._offset += self._last_pos + 1.0 / self.fps
            self._cap.release()
            self._open()
        return None

    def close(self):
        super().close()
        if self._cap is not None:
            self._cap.release()


class ImageSource(Source):
    """Images from a list of paths (a folder or a glob), in sorted order; ``fps`` spaces their times."""

    def __init__(self, paths, name, loop=False, realtime=False, fps=30.0, start_time=None, uri=None):
        super().__init__(name, uri=uri)
        if not paths:
            raise SourceError("%s: no images found (looked for %s)" % (uri or name, ", ".join(IMAGE_SUFFIXES)))
        self.paths = list(paths)
        self.loop = loop
        self.fps = float(fps)
        self.start_time = time.time() if start_time is None else float(start_time)
        self._pacer = _Pacer(realtime)
        self._index = 0
        self.delivered = 0

    def read(self, timeout=None):
        """The next readable image; unreadable ones are skipped with a warning. ``SourceError`` when
        none of them can be read (so a wrong folder or a broken file is not a silent empty run)."""
        failures = 0
        while not self.closed:
            i = self._index
            if failures >= len(self.paths) or (i >= len(self.paths) and not self.loop):
                if self.delivered == 0 or failures >= len(self.paths):
                    raise SourceError("%s: none of the %d image(s) could be read (not image files, or a format "
                                      "OpenCV cannot decode)" % (self.uri, len(self.paths)))
                return None
            path = self.paths[i % len(self.paths)]
            self._index += 1
            image = load_image(path)
            if image is None:
                log.warning("%s: not a readable image, skipped", path)
                failures += 1
                continue
            media = i / self.fps
            self._pacer.wait(media)
            self.delivered += 1
            return Frame(image, self.start_time + media, i, self.name)
        return None


class ArraySource(Source):
    """Frames from in-memory images (a list of BGR arrays), cycled up to ``count`` frames.

    For benchmarks and embedding: ``t`` is ``start_time + index / fps``; never drops a frame.
    """

    def __init__(self, images, count=None, fps=30.0, name="array", start_time=None):
        super().__init__(name, uri="<%d images>" % len(images))
        if not len(images):
            raise SourceError("ArraySource: no images given")
        self.images = list(images)
        self.count = len(self.images) if count is None else int(count)
        self.fps = float(fps)
        self.start_time = time.time() if start_time is None else float(start_time)
        self._index = 0

    def read(self, timeout=None):
        if self.closed or self._index >= self.count:
            return None
        i = self._index
        self._index += 1
        return Frame(self.images[i % len(self.images)], self.start_time + i / self.fps, i, self.name)
