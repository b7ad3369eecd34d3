"""``edgepose replay poses.jsonl``: a recorded pose stream through analytics and sinks."""
from ..errors import UsageError
from ._common import check_outputs

NAME = "replay"
HELP = "run a recorded pose stream (--record output) through tracking, posture, falls and the sinks"
DESCRIPTION = """Run a recorded pose stream through analytics and sinks, offline.

The input is one JSON line per frame ({"t", "frame", "source", "width", "height", "people"}), as
written by `edgepose run --record`; several sources may be interleaved, each gets its own tracker
and state. --config takes a YAML file with `analytics:` and `sinks:` sections (or a full service
config). --events writes the event feed (Frigate-style changes), one JSON object per line.

examples:
  edgepose replay poses.jsonl --events events.jsonl
  edgepose replay poses.jsonl --config thresholds.yaml --events events.jsonl
"""


def add_arguments(p):
    p.add_argument("recording", help="pose recording (JSON lines)")
    p.add_argument("--config", metavar="C.yaml", help="analytics and sinks settings (default: built-in defaults, "
                   "no sinks)")
    p.add_argument("--events", metavar="OUT.jsonl", help="write the event feed here")
    p.add_argument("--no-sinks", action="store_true", help="ignore the sinks of --config (only --events)")


def run(args):
    from ..replay import load_replay_config, replay

    if args.no_sinks and not args.config:
        raise UsageError("--no-sinks only makes sense with --config")
    check_outputs(args, files=["events"])
    analytics_for, sinks_cfg = (None, None)
    if args.config:
        analytics_for, sinks_cfg = load_replay_config(args.config)
        if args.no_sinks:
            sinks_cfg = None
    st = replay(args.recording, analytics_for, sinks_cfg, args.events)
    print("replayed %d frames (%d people) from %d source(s) in %.2f s: %.0f frames/s"
          % (st.frames, st.people, len(st.sources), st.seconds, st.fps))
    if st.labels:
        for key in sorted(st.labels):
            print("  %-24s %d" % (key, st.labels[key]))
    else:
        print("  no events")
    if args.events:
        print("event feed: %s (%d changes)" % (args.events, st.changes))
    return 0
