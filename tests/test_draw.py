"""Overlays that show what the product does: skeletons, each tracked person's id and posture, and the
fall / long-lie alert (the box turns red and a banner names it), fed by the loop's ``FrameResult.tracks``."""
import numpy as np
import pytest

cv2 = pytest.importorskip("cv2")

import helpers  # noqa: E402
from edgepose.analytics import Analyzer  # noqa: E402
from edgepose.backends.base import Backend, TensorInfo  # noqa: E402
from edgepose.draw import alert_summary, draw_alert_banner, draw_result, draw_tracks, track_tag  # noqa: E402
from edgepose.pipeline import FrameResult, Pipeline  # noqa: E402
from edgepose.profiles import load_profile  # noqa: E402
from edgepose.sources import ArraySource  # noqa: E402
from edgepose.types import Frame, Person, TrackInfo  # noqa: E402

RED = np.array([0, 0, 220])


def _red_pixels(image, box=None):
    region = image if box is None else image[box[1]:box[3], box[0]:box[2]]
    return int(np.all(np.abs(region.astype(int) - RED) < 30, axis=-1).sum())


def test_track_tags_name_id_posture_and_alert():
    assert track_tag(TrackInfo(3, (0, 0, 1, 1), "lying", ("fall",))) == "#3 lying FALL"
    assert track_tag(TrackInfo(2, (0, 0, 1, 1), "sitting", ("bad_posture",))) == "#2 sitting BAD POSTURE"
    assert track_tag(TrackInfo(5, (0, 0, 1, 1))) == "#5"
    tracks = [TrackInfo(3, None, "lying", ("fall", "long_lie")), TrackInfo(4, None, "standing")]
    assert alert_summary(tracks) == "FALL #3, LONG LIE #3"
    assert alert_summary([], other={"fall"}) == "FALL"           # the person is out of view
    assert alert_summary(tracks[1:]) == ""


def test_a_fall_turns_the_box_red_and_raises_a_banner():
    calm = np.full((240, 320, 3), 90, np.uint8)
    down = calm.copy()
    tracks = [TrackInfo(1, (40.0, 150.0, 140.0, 190.0), "lying", ("fall",)),
              TrackInfo(2, (200.0, 60.0, 240.0, 200.0), "standing")]
    draw_tracks(calm, [TrackInfo(1, (40.0, 150.0, 140.0, 190.0), "lying")])
    draw_alert_banner(calm, [TrackInfo(1, (40.0, 150.0, 140.0, 190.0), "lying")])
    draw_tracks(down, tracks)
    draw_alert_banner(down, tracks)
    assert _red_pixels(calm) == 0                                  # no alert: no red anywhere
    assert _red_pixels(down, (0, 0, 320, 20)) > 320 * 10            # the banner across the top
    assert _red_pixels(down, (30, 140, 150, 200)) > 200             # the fallen person's box
    assert _red_pixels(down, (190, 50, 250, 210)) == 0              # the standing one stays grey


def test_draw_result_without_tracks_tags_scores_apart():
    """--no-analytics: skeletons with their scores, each tag on its own box (no run-together "0.620.20")."""
    kps = np.array([[60.0 + 3 * k, 40.0 + 8 * k, 0.9] for k in range(18)], np.float32)
    people = [Person(kps, 0.62), Person(kps + [4.0, 2.0, 0.0], 0.2)]
    image = np.zeros((240, 320, 3), np.uint8)
    res = FrameResult(Frame(image, 0.0, 0), people)
    out = draw_result(image.copy(), res)
    assert out.any() and _red_pixels(out) == 0


class _NumberBackend(Backend):
    """Outputs the frame number (the value of every pixel of the numbered frames)."""

    name = "number"

    def __init__(self):
        super().__init__()
        self.inputs = [TensorInfo("image", (None,) + SMALL + (3,), np.dtype(np.float32))]
        self.outputs = [TensorInfo("out", (None, 1), np.dtype(np.float32))]

    def _activate(self):
        pass

    def _deactivate(self):
        pass

    def _infer(self, batch):
        return {"out": batch["image"][:, :1, :1, 0].reshape(-1, 1).copy()}


SMALL = (helpers.SIZE[0] // 10, helpers.SIZE[1] // 10)    # frames this size: network input = frame, no scaling


class _ScriptDecoder:
    """The people of frame N of a scripted scene (a stick figure that falls at 3 s), scaled to SMALL."""

    def __init__(self, frames):
        self.frames = frames

    def decode(self, outputs):
        i = int(round(float(outputs["out"][0, 0])))
        return [Person(p.keypoints * [0.1, 0.1, 1.0], p.score) for p in self.frames[i][1]]


def test_the_loop_hands_tracks_with_posture_and_the_fall_to_the_overlay():
    frames, truth, _ = helpers.make_scene("fall_forward", seed=1, frame_drop=0.0, fps_jitter=0.0)
    frames = frames[:150]
    images = [np.full(SMALL + (3,), i, np.uint8) for i in range(len(frames))]
    pipe = Pipeline(ArraySource(images, fps=15.0), backend=_NumberBackend(),
                    profile=load_profile("tf-pose").with_size(SMALL), decoder=_ScriptDecoder(frames),
                    analytics=Analyzer)
    results = list(pipe)
    pipe.close()
    ids = {tr.track_id for r in results for tr in r.tracks}
    assert ids == {1}                                               # one person, one stable id
    assert results[10].tracks[0].posture == "standing" and not results[10].tracks[0].alerts
    fallen = [r for r in results if any("fall" in tr.alerts for tr in r.tracks)]
    assert fallen and fallen[-1] is results[-1]                     # raised, and still open at the end
    assert fallen[0].frame.t - results[0].frame.t > truth[0][1]     # after the impact, not before
    assert results[-1].tracks[0].posture == "lying"
    image = draw_result(np.zeros((240, 320, 3), np.uint8), fallen[0])
    assert _red_pixels(image, (0, 0, 320, 20)) > 1000               # the banner is on the frame
