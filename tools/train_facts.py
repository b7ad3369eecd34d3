"""The facts JSON of the demo model (tools/train_demo.py): training history, provenance, export.

``read_history`` carries the runs of the model a run starts from; ``export`` writes the ONNX (TAO's contract)
and its facts beside it: every run's command, code commit, init sha256, device, samples, fresh frames and wall
time, the totals, the architecture and the ONNX's own sha256. Training-only (torch).
"""
import json
import logging
import os
import shutil

import torch

from bpnet_lite import BPNetLite, export_onnx
from demo_data import TRAIN_SEED_LIMIT
from train_feed import VAL_SEED_BASE

log = logging.getLogger("train_demo")
ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
ARCH_KEYS = ("width", "deep_width", "stage_width", "stages", "stage_convs", "stage_kernel")


def build_net(arch):
    return BPNetLite(stage_bn=True, **{k: arch[k] for k in ARCH_KEYS})


def read_history(path):
    """The training history of a model's facts JSON (``runs``, totals); facts written before the runs list
    existed (the first bundled model) become its first run."""
    facts = {}
    if path and os.path.isfile(path):
        try:
            with open(path) as f:
                facts = json.load(f)
        except ValueError:
            log.warning("%s: not valid JSON, starting a new history", path)
    runs = list(facts.get("runs", []))
    if not runs and "steps" in facts:
        runs.append({"command": facts.get("command"), "device": facts.get("training_device"),
                     "steps": facts.get("steps"), "samples": int(facts.get("steps", 0)) * int(facts.get("batch", 0)),
                     "wall_s": facts.get("training_time_s"), "train_size": facts.get("input_size"),
                     "note": "the first bundled model (refinement convs %s)" % facts.get("refinement_convs")})
    return {"runs": runs}


def code_commit():
    """The checkout's commit (``+dirty`` with uncommitted changes), or None outside a git checkout."""
    import subprocess

    try:
        head = subprocess.run(["git", "-C", ROOT, "rev-parse", "--short", "HEAD"], capture_output=True, text=True,
                              timeout=10).stdout.strip()
        dirty = subprocess.run(["git", "-C", ROOT, "status", "--porcelain", "--untracked-files=no"],
                               capture_output=True, text=True, timeout=10).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return None
    return (head + ("+dirty" if dirty else "")) or None


def sha256_file(path):
    import hashlib

    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def describe_device(dev):
    if dev.type == "cuda":
        return "CUDA %s" % torch.cuda.get_device_name(dev)
    return "CPU, %d torch threads" % torch.get_num_threads()


def export(args, ckpt):
    state = torch.load(ckpt, map_location="cpu")
    net = build_net(state["arch"])
    net.load_state_dict(state["model"])
    net.eval()
    os.makedirs(os.path.dirname(os.path.abspath(args.export)), exist_ok=True)
    export_onnx(net, args.export, args.export_size)
    facts = dict(state.get("history") or {})
    for k in [k for k in facts if k.startswith("val_")]:  # figures of an older model do not describe this one
        facts.pop(k)
    facts.update({
        "model": "BPNet-Lite (TAO BodyPoseNet architecture family), trained on synthetic people only",
        "architecture": state["arch"], "parameters": int(sum(p.numel() for p in net.parameters())),
        "input_size": list(args.export_size), "stage_bn_folded": True,
        "train_seeds": "chunks below %d (demo_data.TRAIN_SEED_LIMIT)" % TRAIN_SEED_LIMIT,
        "val_seeds_from": VAL_SEED_BASE,
    })
    facts.pop("command", None)
    facts["onnx_sha256"] = sha256_file(args.export)
    side = os.path.splitext(args.export)[0] + ".json"
    with open(side + ".tmp", "w") as f:
        json.dump(facts, f, indent=2)
    os.replace(side + ".tmp", side)
    log.info("exported %s (%.2f MB) and %s", args.export, os.path.getsize(args.export) / 1e6, side)
    if args.out_dir:
        os.makedirs(args.out_dir, exist_ok=True)
        for p in (args.export, side, ckpt):
            dst = os.path.join(args.out_dir, os.path.basename(p))
            if os.path.abspath(p) != os.path.abspath(dst):
                shutil.copy(p, dst)
