"""GStreamer pipelines for Jetson cameras and hardware-decoded RTSP, and detecting support for them.

pip's opencv-python has no GStreamer; JetPack's system OpenCV has it. ``opencv_has_gstreamer()``
reads ``cv2.getBuildInformation()``; ``require_gstreamer(what)`` raises a ``DependencyError`` that
says how to get it.
"""
import functools
import re
import shutil
import subprocess

from .. import deps
from ..errors import DependencyError


@functools.lru_cache(maxsize=1)
def opencv_has_gstreamer():
    info = deps.load("cv2", "camera, video and image sources").getBuildInformation()
    m = re.search(r"GStreamer:\s*(\S+)", info)
    return bool(m) and m.group(1).upper() not in ("NO", "OFF")


@functools.lru_cache(maxsize=8)
def gst_element_available(element):
    """True when ``gst-inspect-1.0 ELEMENT`` finds it (e.g. nvv4l2decoder on a Jetson)."""
    exe = shutil.which("gst-inspect-1.0")
    if not exe:
        return False
    try:
        return subprocess.run([exe, element], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                              timeout=10).returncode == 0
    except (OSError, subprocess.TimeoutExpired):
        return False


def require_gstreamer(what):
    if not opencv_has_gstreamer():
        raise DependencyError(
            "%s needs OpenCV built with GStreamer, and this cv2 (%s) has none (pip's opencv-python never has it): "
            "on a Jetson use JetPack's OpenCV (python3-opencv; make the venv with --system-site-packages and "
            "`pip uninstall opencv-python-headless`)" % (what, deps.load("cv2", "camera, video and image sources").__version__))


def csi_pipeline(sensor_id=0, width=1280, height=720, fps=30, flip=0, capture_width=1920, capture_height=1080):
    """nvarguscamerasrc (Jetson CSI camera) -> BGR appsink that keeps only the newest buffer."""
    return ("nvarguscamerasrc sensor-id=%d ! video/x-raw(memory:NVMM), width=%d, height=%d, format=NV12, "
            "framerate=%d/1 ! nvvidconv flip-method=%d ! video/x-raw, width=%d, height=%d, format=BGRx ! "
            "videoconvert ! video/x-raw, format=BGR ! appsink drop=true max-buffers=1 sync=false"
            % (int(sensor_id), int(capture_width), int(capture_height), int(fps), int(flip), int(width), int(height)))


def rtsp_pipeline(url, latency=200, codec="h264"):
    """rtspsrc -> depay -> parse -> nvv4l2decoder (hardware) -> BGR appsink keeping the newest buffer."""
    codec = codec.lower()
    if codec not in ("h264", "h265"):
        raise DependencyError("rtsp codec %r: use codec=h264 or codec=h265" % codec)
    return ("rtspsrc location=%s latency=%d ! rtp%sdepay ! %sparse ! nvv4l2decoder ! nvvidconv ! "
            "video/x-raw, format=BGRx ! videoconvert ! video/x-raw, format=BGR ! appsink drop=true max-buffers=1 "
            "sync=false" % (url, int(latency), codec, codec))
