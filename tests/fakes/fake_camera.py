"""A V4L2-less camera test double: a capture with OpenCV's VideoCapture methods.

``FakeCamera(period=0.002, fail_after=None)``: ``read()`` waits ``period`` seconds and returns a
small BGR frame whose pixel [0, 0, 0] and [0, 1, 0] encode the frame count (count % 256, count //
256); after ``fail_after`` frames every read fails (the camera was unplugged / the stream died).
``CameraFactory(script)``: a capture factory that returns, per open attempt, what ``script`` says:
a FakeCamera, or None for a failed open; it records the specs it was asked for.
"""
import threading
import time

import numpy as np


def frame_number(image):
    return int(image[0, 0, 0]) + 256 * int(image[0, 1, 0])


class FakeCamera:
    def __init__(self, period=0.002, fail_after=None, size=(24, 32), start=0):
        self.period = period
        self.fail_after = fail_after
        self.size = size
        self.count = 0
        self.start = start
        self.released = False
        self.props = {}

    def isOpened(self):
        return not self.released

    def set(self, prop, value):
        self.props[prop] = value
        return True

    def get(self, prop):
        return 30.0 if prop == 5 else 0.0

    def read(self):
        time.sleep(self.period)
        if self.released or (self.fail_after is not None and self.count >= self.fail_after):
            return False, None
        n = self.start + self.count
        img = np.full(self.size + (3,), 80, dtype=np.uint8)
        img[0, 0, 0], img[0, 1, 0] = n % 256, n // 256
        self.count += 1
        return True, img

    def release(self):
        self.released = True


class CameraFactory:
    def __init__(self, script):
        self.script = list(script)
        self.specs = []
        self.opened = []
        self.lock = threading.Lock()

    def __call__(self, spec):
        with self.lock:
            self.specs.append(spec)
            item = self.script.pop(0) if self.script else None
            if callable(item):
                item = item()
            if item is not None:
                self.opened.append(item)
            return item
