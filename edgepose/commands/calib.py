"""``edgepose calib collect SOURCE --out calibration/NAME --count N``: a calibration image set."""
NAME = "calib"
HELP = "collect calibration images (distinct frames) from a camera, video or image folder"
DESCRIPTION = HELP + """

TAO's advice: 500-2000 images with people in them, from the scenes the camera will see.

examples:
  edgepose calib collect /dev/video0 --out calibration/home --count 500 --every 2
  edgepose calib collect walk.mp4 --out calibration/walk --count 300
"""


def add_arguments(p):
    sub = p.add_subparsers(dest="calib_command", metavar="ACTION")
    c = sub.add_parser("collect", help="save distinct frames of SOURCE as JPEGs")
    c.add_argument("source", help="csi://0, /dev/video0, rtsp://..., a video file or an image folder")
    c.add_argument("--out", required=True, help="folder to write (e.g. calibration/home)")
    c.add_argument("--count", type=int, default=500, help="images to collect (default 500)")
    c.add_argument("--every", type=float, metavar="SECONDS", help="at most one frame per SECONDS of source time")
    c.add_argument("--min-diff", type=float, default=3.0,
                   help="skip frames whose 32x24 grey thumbnail differs from the last kept one by less (0..255)")


def run(args):
    from ..errors import UsageError

    if getattr(args, "calib_command", None) != "collect":
        raise UsageError("edgepose calib: give an action, e.g. `edgepose calib collect SOURCE --out DIR`")
    from ..engine.calibset import collect
    from ._common import check_outputs

    check_outputs(args, folders=["out"])

    rep = collect(args.source, args.out, args.count, every=args.every, min_diff=args.min_diff)
    print("wrote %d image(s) to %s (%d frames read, %d near-duplicates skipped)"
          % (rep["written"], rep["out"], rep["seen"], rep["duplicates"]))
    return 0 if rep["written"] else 1
