"""Source options: one table says which options each kind of source takes and what values they accept,
used when a source opens and by `edgepose config check` (which opens nothing)."""
import pytest

from edgepose.errors import UsageError
from edgepose.sources import open_source
from edgepose.sources.options import kind_from_uri, option_problems, split_query


@pytest.mark.parametrize("uri, kind", [
    ("csi://0", "csi"), ("/dev/video0", "v4l2"), ("v4l2:///dev/video1", "v4l2"), ("0", "v4l2"),
    ("rtsp://cam/stream", "stream"), ("clip.mp4", "video"), ("frames/*.jpg", "images"), ("photo.png", "images"),
    ("recording.xyz", "file"),
])
def test_kind_from_the_uri_alone(uri, kind):
    assert kind_from_uri(uri) == kind


@pytest.mark.parametrize("kind, options, problem", [
    ("v4l2", {"width": "abc"}, "width='abc': expected a positive whole number"),
    ("v4l2", {"width": 0}, "width=0"),
    ("v4l2", {"fps": -1}, "fps=-1"),
    ("csi", {"flip": 9}, "flip=9"),
    ("stream", {"codec": "vp9"}, "codec='vp9': expected h264 or h265"),
    ("stream", {"latency": 1.5}, "latency=1.5"),
    ("video", {"loop": "sometimes"}, "loop='sometimes': expected true or false"),
    ("video", {"fps": 10}, "unknown option fps for a video file"),
    ("v4l2", {"latency": 100}, "unknown option latency for a V4L2 camera"),
])
def test_bad_options_are_named(kind, options, problem):
    (text,) = option_problems(kind, options)
    assert problem in text


@pytest.mark.parametrize("kind, options", [
    ("v4l2", {"width": 1280, "height": 720, "fps": 30, "retry_delay": 0.5, "loop": True}),
    ("csi", {"flip": 2, "wait_first": None}),
    ("stream", {"latency": 0, "codec": "h265", "hardware": "auto"}),
    ("images", {"fps": 2.5, "loop": False}),
    ("file", {"loop": True, "realtime": True, "fps": 5}),
])
def test_good_options_pass(kind, options):
    assert option_problems(kind, options) == []


def test_query_values_are_typed_and_urls_keep_their_query():
    assert split_query("/dev/video0?width=640&fps=7.5&loop=on") == ("/dev/video0", {"width": 640, "fps": 7.5,
                                                                                   "loop": True})
    assert split_query("rtsp://cam/s?channel=1") == ("rtsp://cam/s?channel=1", {})


def test_opening_with_a_bad_value_is_a_usage_error():
    with pytest.raises(UsageError, match=r"source /dev/video0: option width='wide'"):
        open_source("/dev/video0?width=wide")
