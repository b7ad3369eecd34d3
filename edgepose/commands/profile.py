"""``edgepose profile``: list and print model profiles."""
import yaml

from ..profiles import builtin_profiles, load_profile

NAME = "profile"
HELP = "list the built-in model profiles or print one (built-in name or YAML path)"


def add_arguments(p):
    p.add_argument("action", choices=["list", "show"], help="list: names; show: the full profile as YAML")
    p.add_argument("name", nargs="?", help="profile name or YAML path (for show)")


def run(args):
    if args.action == "list" or not args.name:
        for name in builtin_profiles():
            print("%-14s %s" % (name, load_profile(name).description))
        return 0
    prof = load_profile(args.name)
    data = prof.model_dump(mode="json")
    data["limbs"] = [list(l) for l in data["limbs"]]
    print(yaml.safe_dump(data, sort_keys=False, default_flow_style=None), end="")
    return 0
