"""``edgepose synth``: synthetic people - still images with COCO keypoints, or labelled video clips."""
import logging

from ._common import check_outputs, size_type

NAME = "synth"
HELP = "render synthetic people: COCO keypoint image sets or labelled clips with falls"
DESCRIPTION = """Render synthetic people (figures, not real people) with exact ground truth.

  edgepose synth images --count 200 --seed 7 --size 288x384 --out data/val
      images + DIR/annotations.json (COCO keypoints, 18 named keypoints incl. neck; each person's
      activity and posture: upright, sitting, lying)
  edgepose synth images --scenarios --count 120 --seed 950000000 --out data/heldout
      frames of the scenario clips (the demo's world: rooms, 1-3 people standing, sitting, lying,
      falling), 4 per clip, every scenario in turn; seeds from 950000000 up are never used for training
  edgepose synth clip --scenario fall_forward --seed 3 --out clip.mp4
      clip.mp4 + clip.jsonl (one ground-truth frame per line) + clip.truth.json (falls, zones)
  edgepose synth clip --list
      the scenarios (no --scenario: 'mixed', a few people of whom one falls)
"""

log = logging.getLogger(__name__)


def add_arguments(p):
    sub = p.add_subparsers(dest="synth_command", metavar="WHAT")
    im = sub.add_parser("images", help="still scenes + COCO keypoint annotations")
    im.add_argument("--count", type=int, default=100, help="number of images (default 100)")
    im.add_argument("--seed", type=int, default=0, help="random seed (default 0)")
    im.add_argument("--size", type=size_type, default="288x384", help="HxW (default 288x384)")
    im.add_argument("--format", choices=("jpg", "png"), default="jpg", help="image format (default jpg)")
    im.add_argument("--ir", choices=("mixed", "always", "never"), default="mixed",
                    help="grayscale IR-like frames (default: mixed, about one in five); still scenes only")
    im.add_argument("--clean", action="store_true", help="no noise, blur or lighting effects")
    im.add_argument("--scenarios", action="store_true",
                    help="frames of the scenario clips instead of still scenes: clip j is scenario j modulo the "
                         "number of scenarios with sequence seed SEED + j // that number (held-out sets: "
                         "--seed 950000000 or above, never used for training)")
    im.add_argument("--per-clip", type=int, default=4, metavar="N",
                    help="with --scenarios: frames drawn from each clip (default 4)")
    im.add_argument("--out", required=True, help="output folder")
    cl = sub.add_parser("clip", help="a labelled video clip (mp4 + JSONL ground truth)")
    cl.add_argument("--scenario", default="mixed", help="scenario name (see --list; default mixed)")
    cl.add_argument("--seed", type=int, default=0, help="random seed (default 0)")
    cl.add_argument("--fps", type=float, default=15.0, help="frames per second (default 15)")
    cl.add_argument("--size", type=size_type, default="288x384", help="HxW (default 288x384)")
    cl.add_argument("--duration", type=float, default=None, help="seconds (default: the scenario's, 8-20 s)")
    cl.add_argument("--clean", action="store_true", help="no noise, blur or lighting effects")
    cl.add_argument("--list", action="store_true", help="list the scenarios and exit")
    cl.add_argument("--out", help="output video path (.mp4); the JSONL goes beside it")


def run(args):
    from ..errors import UsageError

    what = getattr(args, "synth_command", None)
    if what == "images":
        return _images(args)
    if what == "clip":
        return _clip(args)
    raise UsageError("edgepose synth: say what to render: 'images' or 'clip' (see edgepose synth --help)")


def _images(args):
    from ..errors import UsageError
    from ..synth.dataset import write_images, write_scenario_frames

    if args.count <= 0:
        raise UsageError("--count must be positive, got %d" % args.count)
    size = args.size
    check_outputs(args, folders=["out"])
    if args.scenarios:
        if args.per_clip <= 0:
            raise UsageError("--per-clip must be positive, got %d" % args.per_clip)
        if args.ir != "mixed":
            raise UsageError("--ir applies to still scenes; the scenario clips choose their own lighting "
                             "(drop --ir or --scenarios)")
        path = write_scenario_frames(args.out, args.count, args.seed, size, ext=args.format, per_clip=args.per_clip,
                                     effects=not args.clean)
        print("wrote %d frames of the scenario clips and %s" % (args.count, path))
        return 0
    ir = {"mixed": None, "always": True, "never": False}[args.ir]
    path = write_images(args.out, args.count, args.seed, size, ext=args.format, ir=ir, effects=not args.clean)
    print("wrote %d images and %s" % (args.count, path))
    return 0


def _clip(args):
    from ..errors import UsageError
    from ..synth.clip import write_clip
    from ..synth.sequences import SCENARIOS, generate_sequence, get_scenario

    if args.list:
        for name, sc in SCENARIOS.items():
            print("%-20s %-5s %s" % (name, "fall" if sc.falls else "", sc.description))
        return 0
    if not args.out:
        raise UsageError("edgepose synth clip: --out clip.mp4 is required (or --list)")
    get_scenario(args.scenario)
    check_outputs(args, files=["out"])
    size = args.size
    seq = generate_sequence(args.scenario, args.seed, fps=args.fps, size=size, duration=args.duration)
    log.info("scenario %s seed %d: %d frames at %.1f fps, %d people, %d falls", seq.scenario, seq.seed,
             len(seq.frames), seq.fps, len(seq.tracks), len(seq.truth))
    video, gt = write_clip(seq, args.out, effects=not args.clean)
    print("wrote %s (%d frames, %.1f s) and %s" % (video, len(seq.frames), seq.duration, gt))
    for e in seq.truth:
        print("  fall: track %d starts %.2f s, on the floor %.2f s, %s" % (
            e["track_id"], e["start_t"], e["impact_t"],
            "got up %.2f s" % e["end_t"] if e["end_t"] is not None else "stays down"))
    return 0
