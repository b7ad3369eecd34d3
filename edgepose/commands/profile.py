"""``edgepose profile``: list and print model profiles."""
import json

import yaml

from ..profiles import builtin_profiles, load_profile

NAME = "profile"
HELP = "list the built-in model profiles or print one (built-in name or YAML path)"


def add_arguments(p):
    p.add_argument("action", choices=["list", "show"], help="list: names; show: the full profile as YAML")
    p.add_argument("name", nargs="?", help="profile name or YAML path (for show)")
    p.add_argument("--json", action="store_true", help="JSON instead of text: list -> [{name, description, "
                   "input: {name, layout, color, size}}]; show -> the profile")


def _data(prof):
    data = prof.model_dump(mode="json")
    data["limbs"] = [list(l) for l in data["limbs"]]
    return data


def run(args):
    if args.action == "list" or not args.name:
        profiles = [load_profile(name) for name in builtin_profiles()]
        if args.json:
            print(json.dumps([{"name": p.name, "description": p.description,
                               "input": {"name": p.input.name, "layout": p.input.layout, "color": p.input.color,
                                         "size": list(p.input.size)}} for p in profiles], indent=1))
            return 0
        for prof in profiles:
            print("%-14s %s" % (prof.name, prof.description))
        return 0
    data = _data(load_profile(args.name))
    if args.json:
        print(json.dumps(data, indent=1))
        return 0
    print(yaml.safe_dump(data, sort_keys=False, default_flow_style=None), end="")
    return 0
