"""Train the bundled demo model (BPNet-Lite on synthetic people) and export it with TAO's deployable contract.

Reproduce the bundled model (CPU, one training thread + one data worker; ~60 min on 2 shared cores).
It was trained in three phases (each ``--resume`` continues the seeds and restarts the cosine
schedule part-way: the time budget grew as the run showed it was still improving):

    A="--seed 0 --batch 12 --size 192x256 --width 0.125 --stage-width 0.25 --stage-convs 3 \
       --stage-kernel 7 --lr 2e-3 --fg-weight 4 --threads 1"
    .venv/bin/python tools/train_demo.py $A --steps 1400
    .venv/bin/python tools/train_demo.py $A --steps 3400 --resume
    .venv/bin/python tools/train_demo.py $A --steps 5000 --resume --validate 200 --scenarios

(One intra-op thread: on a 2-core machine shared with other work, 2 OpenMP threads were 3-5x slower
per step than 1.)

Data: every training sample is a fresh synthetic scene ``edgepose.synth.render_scene(seed, size)``
rendered on the fly (one DataLoader worker) with seeds ``TRAIN_SEED_BASE + seed * 10**7 + i``, with
random horizontal flips. Validation seeds (``VAL_SEED_BASE``...) and the tests' seeds are disjoint
from every training seed. Targets: ``tools/targets.py`` at stride 8.

Loss: L2 on the heatmaps and PAFs of every stage (summed over cells, averaged over the batch), cells
on people weighted ``1 + fg_weight * |target|``. BatchNorm after the stage convs while training
(folded into the convs at export: the deployed graph is TAO's conv + bias + ReLU).
Optimiser: Adam, linear warm-up then cosine decay of the learning rate.

Outputs: checkpoints in ``--work`` (``last.pt`` every ``--ckpt-every`` steps, so an interrupted run
still yields a model; ``--resume`` continues), then ``--export`` (default: the package's
``edgepose/models/edgepose-demo.onnx``) and a JSON of training facts beside it. ``--export-only``
exports the checkpoint without training; ``--validate N`` (after export; ``--validate-only``: no
training) measures OKS AP on N validation scenes and records it in the JSON; ``--tune`` adds a grid
search of the decode thresholds on those (validation, never test) seeds.
"""
import argparse
import json
import logging
import math
import os
import sys
import time

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
sys.path.insert(0, HERE)
sys.path.insert(0, ROOT)

import torch  # noqa: E402
from torch.utils.data import DataLoader, IterableDataset  # noqa: E402

from bpnet_lite import BPNetLite, export_onnx  # noqa: E402
from targets import flip_keypoints, render_heatmaps, render_pafs  # noqa: E402

log = logging.getLogger("train_demo")

TRAIN_SEED_BASE = 0            # training seeds: seed * 10**7 + i, i < steps * batch  (< 10**7)
VAL_SEED_BASE = 900_000_000    # validation scenes [VAL_SEED_BASE, i] (threshold tuning, reported val AP) =
                               # `edgepose synth images --seed 900000000`
TEST_SEED_BASE = 990_000_000   # scenes [TEST_SEED_BASE, i] used by tests/test_demo_model.py
STRIDE = 8
DEFAULT_EXPORT = os.path.join(ROOT, "edgepose", "models", "edgepose-demo.onnx")


def to_input(image_bgr):
    """BGR uint8 (H, W, 3) -> float32 (3, H, W) RGB, pixel/256 - 0.5 (TAO's normalisation)."""
    rgb = image_bgr[:, :, ::-1].astype(np.float32) * (1.0 / 256.0) - 0.5
    return np.ascontiguousarray(rgb.transpose(2, 0, 1))


def _render_scene():
    try:
        from edgepose.synth import render_scene
    except ImportError:  # the package's __init__ not there yet: the renderer module itself
        from edgepose.synth.scene import render_scene
    return render_scene


def make_sample(seed, size, flip_p=0.5, sigma=6.0, limb_width=8.0):
    """One training sample (input, heatmaps, pafs) for a scene seed."""
    render_scene = _render_scene()
    scene = render_scene(int(seed), size=tuple(size))
    image, kps = scene.image, np.asarray(scene.keypoints, dtype=np.float32).reshape(-1, 18, 3)
    rng = np.random.default_rng(int(seed) ^ 0x5EED)
    if rng.random() < flip_p:
        image = image[:, ::-1]
        kps = flip_keypoints(kps, image.shape[1])
    return (to_input(image), render_heatmaps(kps, size, STRIDE, sigma),
            render_pafs(kps, size, STRIDE, limb_width))


class SceneStream(IterableDataset):
    """Fresh synthetic scenes, seeds ``first, first + 1, ...`` (single worker: deterministic order)."""

    def __init__(self, first, count, size, sigma=6.0, limb_width=8.0):
        self.first, self.count, self.size = first, count, size
        self.sigma, self.limb_width = sigma, limb_width

    def __iter__(self):
        torch.set_num_threads(1)
        for i in range(self.count):
            yield make_sample(self.first + i, self.size, sigma=self.sigma, limb_width=self.limb_width)


def lr_at(step, steps, base_lr, warmup=100, floor=0.02):
    if step < warmup:
        return base_lr * (step + 1) / warmup
    p = (step - warmup) / max(1, steps - warmup)
    return base_lr * (floor + (1 - floor) * 0.5 * (1 + math.cos(math.pi * min(1.0, p))))


def stage_loss(outs, heat_t, paf_t, fg_weight=0.0):
    """Sum over stages of the L2 losses (summed over cells, mean over the batch).

    ``fg_weight``: cells on people weigh ``1 + fg_weight * |target|`` (keypoint heatmaps and PAFs), so
    the sparse peaks and bands are learnt sooner; a per-cell weight leaves each cell's optimum at
    its target.
    """
    n = heat_t.shape[0]
    wh = 1.0 + fg_weight * heat_t
    wh[:, -1:] = 1.0  # background channel unweighted
    wp = 1.0 + fg_weight * paf_t.abs()
    total = 0.0
    for paf, heat in outs:
        total = total + (wh * (heat - heat_t) ** 2).sum() / n + (wp * (paf - paf_t) ** 2).sum() / n
    return total


def build_net(args):
    return BPNetLite(width=args.width, stages=3, stage_convs=args.stage_convs, stage_kernel=args.stage_kernel,
                     stage_width=args.stage_width, stage_bn=not args.no_stage_bn)


def validation_batch(size, count=48):
    samples = [make_sample(VAL_SEED_BASE + i, size, flip_p=0.0) for i in range(count)]
    return [torch.from_numpy(np.stack(s)) for s in zip(*samples)]


def train(args):
    torch.manual_seed(args.seed)
    torch.set_num_threads(args.threads)
    os.makedirs(args.work, exist_ok=True)
    net = build_net(args)
    opt = torch.optim.Adam(net.parameters(), lr=args.lr)
    start, elapsed0, best = 0, 0.0, float("inf")
    ckpt = os.path.join(args.work, "last.pt")
    if args.resume and os.path.isfile(ckpt):
        state = torch.load(ckpt, map_location="cpu")
        net.load_state_dict(state["model"])
        opt.load_state_dict(state["optim"])
        start, elapsed0, best = state["step"], state["elapsed"], state.get("best", best)
        log.info("resumed from %s at step %d", ckpt, start)
    size = args.size
    first = TRAIN_SEED_BASE + args.seed * 10 ** 7 + start * args.batch
    loader = DataLoader(SceneStream(first, (args.steps - start) * args.batch, size, args.sigma, args.paf_width),
                        batch_size=args.batch,
                        num_workers=args.workers, persistent_workers=False)
    vx, vh, vp = validation_batch(size)
    n_params = sum(p.numel() for p in net.parameters())
    log.info("BPNet-Lite width %.3g/%.3g, %d refinement convs %dx%d, %.2fM parameters; input %dx%d, batch %d, "
             "steps %d (from %d)", args.width, args.stage_width, args.stage_convs, args.stage_kernel, args.stage_kernel,
             n_params / 1e6, size[0], size[1], args.batch, args.steps, start)
    t0 = time.time()
    step = start
    run_loss = None
    for x, heat_t, paf_t in loader:
        for g in opt.param_groups:
            g["lr"] = lr_at(step, args.steps, args.lr)
        net.train()
        loss = stage_loss(net(x), heat_t, paf_t, args.fg_weight)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        step += 1
        run_loss = loss.item() if run_loss is None else 0.95 * run_loss + 0.05 * loss.item()
        elapsed = elapsed0 + time.time() - t0
        if step % args.log_every == 0 or step == args.steps:
            rate = (step - start) / max(1e-6, time.time() - t0)
            eta = (args.steps - step) / max(1e-6, rate)
            log.info("step %d/%d  loss %.3f  lr %.2e  %.2f steps/s  elapsed %.1f min  eta %.1f min",
                     step, args.steps, run_loss, opt.param_groups[0]["lr"], rate, elapsed / 60, eta / 60)
        if step % args.ckpt_every == 0 or step == args.steps:
            net.eval()
            with torch.no_grad():
                vloss = float(stage_loss(net(vx)[-1:], vh, vp))
            state = {"model": net.state_dict(), "optim": opt.state_dict(), "step": step, "elapsed": elapsed,
                     "best": min(best, vloss), "args": vars(args), "val_loss": vloss}
            torch.save(state, ckpt + ".tmp")
            os.replace(ckpt + ".tmp", ckpt)
            if vloss < best:
                best = vloss
                torch.save(state, os.path.join(args.work, "best.pt"))
            log.info("checkpoint step %d: validation loss (last stage) %.3f (best %.3f)", step, vloss, best)
        if step >= args.steps:
            break
    total = elapsed0 + time.time() - t0
    log.info("training done: %d steps in %.1f min", step, total / 60)
    return ckpt


def export(args, ckpt):
    state = torch.load(ckpt, map_location="cpu")
    net = build_net(args)
    net.load_state_dict(state["model"])
    net.eval()
    export_onnx(net, args.export, args.size)
    facts = {
        "model": "BPNet-Lite (TAO BodyPoseNet architecture family), trained on synthetic people only",
        "command": "python tools/train_demo.py --seed %d --steps %d --batch %d --size %dx%d --width %g "
                   "--stage-width %g --stage-convs %d --stage-kernel %d --lr %g --fg-weight %g%s --threads %d"
                   % (args.seed, args.steps, args.batch, args.size[0], args.size[1], args.width,
                      args.stage_width, args.stage_convs, args.stage_kernel, args.lr, args.fg_weight,
                      " --no-stage-bn" if args.no_stage_bn else "", args.threads),
        "seed": args.seed, "steps": int(state["step"]), "steps_planned": args.steps, "batch": args.batch,
        "input_size": list(args.size), "width": args.width, "stage_width": args.stage_width,
        "fg_weight": args.fg_weight, "stage_bn_folded": not args.no_stage_bn, "stages": 3,
        "refinement_convs": "%d x %dx%d" % (args.stage_convs, args.stage_kernel, args.stage_kernel),
        "parameters": int(sum(p.numel() for p in net.parameters())),
        "train_seeds": "%d..%d" % (TRAIN_SEED_BASE + args.seed * 10 ** 7,
                                   TRAIN_SEED_BASE + args.seed * 10 ** 7 + int(state["step"]) * args.batch - 1),
        "val_seeds_from": VAL_SEED_BASE, "test_seeds_from": TEST_SEED_BASE,
        "training_time_s": round(float(state["elapsed"]), 1),
        "training_device": "CPU, %d threads" % args.threads,
        "val_loss_last_stage": round(float(state.get("val_loss", float("nan"))), 4),
        "torch": torch.__version__,
    }
    side = os.path.splitext(args.export)[0] + ".json"
    if os.path.isfile(side):
        try:
            with open(side) as f:
                old = json.load(f)
            facts.update({k: v for k, v in old.items() if k.startswith("val_") and k not in facts})
        except ValueError:
            pass
    with open(side + ".tmp", "w") as f:
        json.dump(facts, f, indent=2)
    os.replace(side + ".tmp", side)
    log.info("exported %s (%.2f MB) and %s", args.export, os.path.getsize(args.export) / 1e6, side)


def render_scenes(seed, count, size):
    """Scenes ``[seed, i]``, i < count: the same scenes as ``edgepose synth images --seed SEED``."""
    render_scene = _render_scene()
    return [render_scene([seed, i], size=tuple(size)) for i in range(count)]


def network_outputs(model, profile, images, threads=2):
    """Backend outputs and transforms for BGR images (the runtime's path), and the mean latency in ms."""
    from edgepose.backends import open_backend
    from edgepose.preprocess import preprocess

    backend = open_backend(model, profile=profile, threads=threads)
    res, total = [], 0.0
    with backend:
        for im in images:
            x, tf = preprocess(im, profile)
            t = time.perf_counter()
            out = backend.infer({profile.input.name: x})
            total += time.perf_counter() - t
            res.append((out, tf))
    return res, 1000.0 * total / max(1, len(images))


def score_outputs(coco, outputs, profile, **overrides):
    from edgepose.decode import PoseDecoder
    from edgepose.evaluate import Detection, evaluate

    dec = PoseDecoder(profile, **overrides)
    dets = []
    for iid, (out, tf) in zip(sorted(coco.images), outputs):
        for p in dec.decode(out):
            kps = tf.to_source(p.keypoints)
            kps[np.asarray(p.keypoints)[:, 2] <= 0, :2] = np.nan
            dets.append(Detection(iid, kps, p.score))
    return evaluate(coco, dets)


def validate(args):
    """OKS AP of the exported model on validation seeds (rendered at --val-size), optional threshold grid."""
    import itertools

    from edgepose.evaluate import CocoKeypoints, coco_from_scenes
    from edgepose.profiles import load_profile

    profile = load_profile(args.profile)
    scenes = render_scenes(VAL_SEED_BASE, args.validate, args.val_size)
    coco = CocoKeypoints(coco_from_scenes(scenes), source="validation seeds")
    outs, ms = network_outputs(args.export, profile, [s.image for s in scenes], threads=args.threads)
    base = score_outputs(coco, outs, profile)
    log.info("validation (%d scenes %dx%d, seed [%d, i]): AP %.3f AP50 %.3f AP75 %.3f AR %.3f; %.1f ms/frame",
             args.validate, args.val_size[0], args.val_size[1], VAL_SEED_BASE, base["AP"], base["AP50"],
             base["AP75"], base["AR"], ms)
    if args.tune:
        grid = dict(peak_threshold=[0.05, 0.1, 0.2, 0.3], paf_threshold=[0.05, 0.1],
                    min_parts=[3, 4, 5], min_person_score=[0.2, 0.4])
        best = (base["AP"], {})
        for values in itertools.product(*grid.values()):
            over = dict(zip(grid, values))
            m = score_outputs(coco, outs, profile, **over)
            log.info("  %s -> AP %.3f AP50 %.3f", over, m["AP"], m["AP50"])
            if m["AP"] > best[0]:
                best = (m["AP"], over)
        log.info("best thresholds: %s (AP %.3f); put them in the profile's decode section", best[1], best[0])
    side = os.path.splitext(args.export)[0] + ".json"
    facts = {}
    if os.path.isfile(side):
        with open(side) as f:
            facts = json.load(f)
    facts.update({"val_scenes": args.validate, "val_size": list(args.val_size), "val_seeds_from": VAL_SEED_BASE,
                  "val_AP": round(base["AP"], 4), "val_AP50": round(base["AP50"], 4),
                  "val_AP75": round(base["AP75"], 4), "val_AR": round(base["AR"], 4),
                  "val_people": base["people"], "cpu_latency_ms": round(ms, 1),
                  "val_profile": profile.name})
    with open(side + ".tmp", "w") as f:
        json.dump(facts, f, indent=2)
    os.replace(side + ".tmp", side)
    return base


def scenario_recall(args, fps=2.0):
    """Per-scenario person recall (OKS >= 0.5) and AP50 on synthetic activity sequences (validation seed).

    GT area = the box of the person's labelled keypoints (sequences carry no pixel areas): lenient
    for AP, fine for "is the person found".
    """
    from edgepose.evaluate import CocoKeypoints
    from edgepose.profiles import load_profile
    from edgepose.synth import SCENARIOS, generate_sequence, render_sequence
    from edgepose.topology import KEYPOINTS

    profile = load_profile(args.profile)
    rows = {}
    for name in SCENARIOS:
        seq = generate_sequence(name, VAL_SEED_BASE, fps=fps, size=args.val_size)
        images = list(render_sequence(seq))
        data = {"images": [], "annotations": [],
                "categories": [{"id": 1, "name": "person", "keypoints": list(KEYPOINTS)}]}
        for i, fr in enumerate(seq.frames):
            data["images"].append({"id": i + 1, "file_name": "%d" % i, "width": fr["width"], "height": fr["height"]})
            for p in fr["people"]:
                k = np.array([[0, 0, 0] if x is None else [x, y, 2] for x, y, _ in p["keypoints"]], dtype=np.float64)
                lab = k[:, 2] > 0
                if lab.sum() < 1:
                    continue
                x0, y0 = k[lab, :2].min(axis=0)
                x1, y1 = k[lab, :2].max(axis=0)
                data["annotations"].append({
                    "id": len(data["annotations"]) + 1, "image_id": i + 1, "category_id": 1,
                    "keypoints": k.ravel().tolist(), "num_keypoints": int(lab.sum()),
                    "bbox": [x0, y0, x1 - x0, y1 - y0], "area": float((x1 - x0) * (y1 - y0)), "iscrowd": 0})
        coco = CocoKeypoints(data, source="scenario %s" % name)
        outs, _ = network_outputs(args.export, profile, images, threads=args.threads)
        m = score_outputs(coco, outs, profile)
        rows[name] = {"frames": len(images), "people": m["people"], "recall": round(m["AR50"], 3),
                      "AP50": round(m["AP50"], 3)}
        log.info("scenario %-20s %3d frames %3d people: recall (OKS>=0.5) %.3f  AP50 %.3f",
                 name, len(images), m["people"], m["AR50"], m["AP50"])
    side = os.path.splitext(args.export)[0] + ".json"
    with open(side) as f:
        facts = json.load(f)
    facts["val_scenario_recall"] = rows
    with open(side + ".tmp", "w") as f:
        json.dump(facts, f, indent=2)
    os.replace(side + ".tmp", side)
    return rows


def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--steps", type=int, default=1400)
    p.add_argument("--batch", type=int, default=12)
    p.add_argument("--size", default="192x256", help="training/export input size HxW (multiples of 8)")
    p.add_argument("--width", type=float, default=0.125, help="backbone channel width multiplier")
    p.add_argument("--stage-width", type=float, default=0.25, help="stage (and channel_reduction) width multiplier")
    p.add_argument("--stage-convs", type=int, default=3, help="convs per refinement stage (TAO: 5)")
    p.add_argument("--stage-kernel", type=int, default=7, help="refinement conv kernel (TAO: 7)")
    p.add_argument("--lr", type=float, default=2e-3)
    p.add_argument("--fg-weight", type=float, default=4.0, help="extra L2 weight on cells on people")
    p.add_argument("--sigma", type=float, default=6.0, help="heatmap Gaussian sigma (input pixels)")
    p.add_argument("--paf-width", type=float, default=8.0, help="PAF band half-width (input pixels)")
    p.add_argument("--no-stage-bn", action="store_true", help="no BatchNorm in the stages while training")
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--workers", type=int, default=1)
    p.add_argument("--log-every", type=int, default=20)
    p.add_argument("--ckpt-every", type=int, default=100)
    p.add_argument("--work", default=os.path.join(ROOT, "build", "demo-train"))
    p.add_argument("--export", default=DEFAULT_EXPORT)
    p.add_argument("--resume", action="store_true")
    p.add_argument("--export-only", metavar="CKPT", help="export this checkpoint, no training")
    p.add_argument("--validate", type=int, default=0, metavar="N",
                   help="after export: OKS AP on N validation scenes, recorded in the JSON (no training with "
                        "--validate-only)")
    p.add_argument("--validate-only", action="store_true", help="only validate the exported model")
    p.add_argument("--val-size", default="288x384", help="validation scene size HxW")
    p.add_argument("--profile", default=os.path.join(ROOT, "edgepose", "profiles", "edgepose-demo.yaml"))
    p.add_argument("--tune", action="store_true", help="with --validate: grid-search the decode thresholds")
    p.add_argument("--scenarios", action="store_true",
                   help="with --validate: also per-scenario recall on activity sequences (validation seed)")
    args = p.parse_args(argv)
    args.val_size = tuple(int(v) for v in args.val_size.lower().split("x"))
    h, w = (int(v) for v in args.size.lower().split("x"))
    if h % 8 or w % 8:
        p.error("--size: H and W must be multiples of 8")
    args.size = (h, w)
    return args


def main(argv=None):
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s", datefmt="%H:%M:%S")
    args = parse_args(argv)
    if args.validate_only:
        validate(args)
        if args.scenarios:
            scenario_recall(args)
        return 0
    if args.export_only:
        export(args, args.export_only)
    else:
        export(args, train(args))
    if args.validate:
        validate(args)
        if args.scenarios:
            scenario_recall(args)
    return 0


if __name__ == "__main__":
    sys.exit(main())
