"""``edgepose run SOURCE``: pose estimation on a camera, stream, video or images.

Prints a summary at the end (frames, people per frame, fps, per-stage latency, alerts). Tracking,
posture and fall/bad-posture alerts run on every frame (``--no-analytics`` turns them off); alerts
are logged, ``--events`` writes the event feed, ``--config`` sets thresholds, zones and sinks (a YAML
with ``analytics:``/``sinks:`` sections, or a full service config). ``--record`` writes the poses as
JSON lines (the input of ``edgepose replay``), ``--out`` an annotated video, ``--show`` opens a
window. Ctrl-C or SIGTERM stops cleanly (frames in flight finish, files are closed, exit 0).
"""
import json
import logging
import signal

from .. import deps
from ..errors import DependencyError, SourceError, UsageError
from ._common import check_outputs, size_type

NAME = "run"
HELP = "run pose estimation on a camera, stream, video file or images"
DESCRIPTION = __doc__ + """
sources: csi://0, /dev/video0 (or v4l2:///dev/video0), rtsp://host/path, clip.mp4, a folder of images or a
glob ('frames/*.jpg'); options in the URI, quoted (the shell splits at &):
'/dev/video0?width=1280&height=720&fps=30'. An unknown option or a bad value is one error line.

exit status: 0 when frames were processed (a folder's unreadable images are skipped with a
warning); 1 when no frame could be read or something failed; 2 for a usage or config mistake.
"""

log = logging.getLogger(__name__)


def add_arguments(p):
    p.add_argument("source", help="csi://N, /dev/videoN, v4l2:///dev/videoN, rtsp://..., video file, image folder or glob")
    g = p.add_mutually_exclusive_group()
    g.add_argument("--model", help="ONNX model (default: the bundled demo model, on ONNX Runtime)")
    g.add_argument("--engine", help="TensorRT engine built by `edgepose build` (Jetson)")
    p.add_argument("--profile", help="model profile name or YAML (default: guessed from the model / engine sidecar)")
    p.add_argument("--size", type=size_type, help="network input HxW instead of the profile's, e.g. 224x320")
    p.add_argument("--record", metavar="POSES.jsonl", help="write one JSON line of poses per frame")
    p.add_argument("--out", metavar="VIDEO.mp4", help="write an annotated video: skeletons, each tracked person's "
                   "'#id posture', a red box and banner while a fall or long lie is open")
    p.add_argument("--show", action="store_true", help="show the annotated frames in a window")
    p.add_argument("--max-frames", type=int, metavar="N", help="stop after N frames")
    p.add_argument("--realtime", action="store_true", help="read files at their real frame rate")
    p.add_argument("--loop", action="store_true", help="start a video / image folder again at its end")
    p.add_argument("--threads", type=int, metavar="N", help="ONNX Runtime threads (default: all cores but one)")
    p.add_argument("--config", metavar="C.yaml", help="analytics thresholds/zones and sinks (YAML with analytics: "
                   "and sinks: sections, or a service config)")
    p.add_argument("--events", metavar="OUT.jsonl", help="write the alert event feed (one change per line)")
    p.add_argument("--no-analytics", action="store_true", help="poses only: no tracking, posture or alerts")
    p.add_argument("--stats-interval", type=float, default=10.0, metavar="S",
                   help="seconds between stats log lines (0: off; default 10)")
    p.add_argument("--json", action="store_true",
                   help="print the end-of-run summary as one JSON object (stats, alerts, outputs)")


def _check_show():
    cv2 = deps.load("cv2", "edgepose run --show")
    try:
        cv2.namedWindow("edgepose", cv2.WINDOW_NORMAL)
    except cv2.error:
        raise DependencyError("--show: this OpenCV has no GUI support (opencv-python-headless): install "
                              "opencv-python, or use --out video.mp4 instead")


def summary_lines(stats, source_name):
    s = stats.snapshot()
    lines = ["%s: %d frames, %.2f people/frame, %.1f fps (mean %.1f), %d dropped, %.1f s"
             % (source_name, s["frames"], s["people_per_frame"], s["fps"], s["mean_fps"], s["dropped"],
                s["elapsed_s"])]
    lines.extend(stats.table().splitlines())
    return lines


def _analytics_and_sinks(args):
    """(analytics factory or None, built sinks, AlertTally or None) for the run's options."""
    from ..analytics import Analyzer, AnalyticsConfig
    from ..sinks import SinkSet, SinksConfig, build_sinks
    from ..sinks.tally import AlertTally

    if args.no_analytics:
        if args.config or args.events:
            raise UsageError("--no-analytics cannot be combined with --config or --events")
        return None, SinkSet(), None
    analytics_for, sinks_cfg = (lambda source: AnalyticsConfig()), SinksConfig()
    if args.config:
        from ..replay import load_replay_config

        analytics_for, sinks_cfg = load_replay_config(args.config)
    if args.events:
        data = sinks_cfg.model_dump()
        data["jsonl"].update(enabled=True, path=args.events)
        sinks_cfg = SinksConfig.model_validate(data)
    tally = AlertTally()
    return (lambda source: Analyzer(analytics_for(source), source)), SinkSet(build_sinks(sinks_cfg) + [tally]), tally


def run(args):
    from ..draw import draw_result
    from ..pipeline import Pipeline
    from ..profiles import resolve_model
    from ..recording import RecordingWriter
    from ..sinks.video import VideoWriterSink

    if args.max_frames is not None and args.max_frames <= 0:
        raise UsageError("--max-frames must be positive")
    check_outputs(args, files=["record", "out", "events"])
    if args.show:
        _check_show()
    analytics, sinks, tally = _analytics_and_sinks(args)
    try:
        model, profile = resolve_model(args.model, args.engine, args.profile, args.size, inputs=[args.source])
        pipe = Pipeline(args.source, model=model, profile=profile, analytics=analytics, sinks=sinks,
                        threads=args.threads, max_frames=args.max_frames, realtime=args.realtime, loop=args.loop,
                        stats_interval=args.stats_interval)
    except BaseException:
        sinks.close()  # their threads are running already
        raise
    recorder = video = None
    previous = {}
    try:
        recorder = RecordingWriter(args.record) if args.record else None
        video = VideoWriterSink(args.out, fps=pipe.source.fps or 30.0) if args.out else None
        previous = pipe.install_signal_handlers()
        for result in pipe:
            if recorder is not None:
                recorder.write(result)
            if video is not None or args.show:
                other = tally.open_labels() if tally is not None else ()
                if video is not None:
                    image = video.write(result, other)
                else:
                    image = draw_result(result.frame.image.copy(), result, other)
                if args.show:
                    cv2 = deps.load("cv2", "edgepose run --show")
                    cv2.imshow("edgepose", image)
                    if cv2.waitKey(1) & 0xFF in (27, ord("q")):
                        pipe.request_stop()
    finally:
        pipe.close()
        for out in (recorder, video):
            if out is not None:
                out.close()
        for sig, handler in previous.items():
            signal.signal(sig, handler)
    _report(args, pipe, model, recorder, video, tally)
    if pipe.stats.frames == 0:
        raise SourceError("%s: no frame could be read (nothing was processed)" % args.source)
    return 0


def _report(args, pipe, model, recorder, video, tally):
    """The end-of-run summary: text lines, or one JSON object with --json."""
    alerts = dict(sorted(tally.raised.items())) if tally is not None else None
    if args.json:
        out = {"source": pipe.source.name, "model": model, "backend": pipe.backend.name, "profile": pipe.profile.name,
               "stats": pipe.stats.snapshot(), "alerts": alerts,
               "poses": {"path": args.record, "lines": recorder.frames} if recorder is not None else None,
               "video": {"path": args.out, "frames": video.frames} if video is not None else None,
               "events": args.events}
        print(json.dumps(out, indent=1, default=str))
        return
    for line in summary_lines(pipe.stats, pipe.source.name):
        print(line)
    if recorder is not None:
        print("poses: %s (%d lines)" % (args.record, recorder.frames))
    if video is not None:
        print("video: %s (%d frames)" % (args.out, video.frames))
    if alerts is not None:
        print("alerts: %s" % (", ".join("%s x%d" % kv for kv in alerts.items()) or "none"))
    if args.events:
        print("events: %s" % args.events)

