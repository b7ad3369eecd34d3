"""Train the bundled demo model (BPNet-Lite on the demo's synthetic world) and export it with TAO's contract.

One command, CPU or CUDA GPU (picked automatically), for a wall-clock budget or a number of steps:

    # a CUDA machine (e.g. 16 cores + one GPU): ~10 minutes, then export
    python tools/train_demo.py --minutes 9 --workers 15 --out-dir OUT
    # a 2-core CPU machine: in the background, checkpoints every few minutes
    nohup python tools/train_demo.py --minutes 150 --workers 1 --threads 1 > train.log 2>&1 &

The bundled model came from ``tools/train_gpu.sh`` (one GPU, 9.3 minutes, 1.64M samples; its facts JSON lists
the commands). Measured here: a 2-core CPU continues it at 5-40 samples/s (about 1 % of that run per hour), and
20 minutes of that (batch 16, peak 3e-4) did not lower the validation loss (96.2 -> 101.7): the CPU route is
for small fixes; more accuracy needs GPU minutes (``tools/train_gpu.sh``).

Every run continues from where the last one stopped: by default it starts from the bundled model's weights
(``--init-from edgepose/models/edgepose-demo.onnx``; the architecture is read from the ONNX's metadata,
or inferred from its shapes), or from a checkpoint with ``--resume`` (weights, BatchNorm statistics and the
optimiser state). Layers whose shapes differ from the requested architecture keep their fresh initialisation
(the log says how many were loaded). Continuing from an ONNX, three defaults keep the first steps from undoing
the model (each measured on a CPU): the BatchNorm statistics stay fixed (the ONNX has them folded into the
convs; re-normalising with batch statistics is another network: validation loss 96 -> 622 in 47 steps), the
learning rate ramps up over at least 300 steps with a gentler peak (a fresh Adam moves every weight by about the
learning rate per step), and the views keep the model's size (continuing on 128x128 crops, the cheap recipe for
training from scratch on a CPU, raised the loss). The facts JSON beside the exported model accumulates every
run: command, code commit, init model sha256, device, samples, fresh frames, wall time.

Data (``demo_data.py``): chunks of frames of the demo's world (scenario sequences scripted without drawing,
frames picked toward people lying, fallen and falling; only those drawn) plus a share of broad synthetic
stills, rendered by ``--workers`` DataLoader workers (each chunk made once: ``demo_data.chunk_ids``). The
frames go into a pool on the training device; every step draws a batch from the pool and makes new views
and targets there (``torch_targets``: person-centred zooms with lying and fallen people first, letterboxed
whole frames, rotation, flips, colour; targets identical to the numpy renderer), so each render is reused
several times and the device never waits for Python. Hidden keypoints (v = 1) are targets but without the
extra foreground loss weight of visible ones.

Loss: L2 on every stage's heatmaps and PAFs (summed over cells, averaged over the batch), cells on people
weighted ``1 + fg_weight * target``. BatchNorm in the stages while training, folded at export (the deployed
graph is TAO's conv + bias + ReLU). Adam with a one-cycle schedule over the budget (time or steps). On CUDA:
bf16 autocast and channels_last.

Outputs: ``--work`` holds ``last.pt`` (every ``--ckpt-minutes``) and ``best.pt`` (lowest loss on fixed
validation frames, seeds 900000000...); then the model is exported to ``--export`` (default: the package's
``edgepose/models/edgepose-demo.onnx``) with its facts JSON, and copied to ``--out-dir`` if given.
``--export-only CKPT`` exports a checkpoint. Measure a model with ``edgepose eval`` (see README).
"""
import argparse
import logging
import math
import os
import queue
import sys
import threading
import time


HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
sys.path.insert(0, HERE)
sys.path.insert(0, ROOT)

import torch  # noqa: E402
from torch.utils.data import DataLoader  # noqa: E402

from bpnet_lite import arch_from_onnx, load_onnx_weights  # noqa: E402
from demo_data import TRAIN_SEED_LIMIT  # noqa: E402
from torch_targets import make_batch  # noqa: E402
from train_facts import (ARCH_KEYS, build_net, code_commit, describe_device, export, read_history,  # noqa: E402
                         sha256_file)
from train_feed import ChunkStream, FramePool, feeder, validation_set  # noqa: E402

from edgepose.progress import interactive, progress as edgepose_progress  # noqa: E402

log = logging.getLogger("train_demo")

CHUNKS_PER_SEED = 10_000_000  # run seed s draws chunks [s * 10**7, (s + 1) * 10**7)
STRIDE = 8
DEFAULT_EXPORT = os.path.join(ROOT, "edgepose", "models", "edgepose-demo.onnx")


def parse_size(text, what):
    try:
        h, w = (int(v) for v in text.lower().split("x"))
    except ValueError:
        raise SystemExit("train_demo: %s %r: expected HxW, e.g. 240x320" % (what, text))
    if h <= 0 or w <= 0 or h % 8 or w % 8:
        raise SystemExit("train_demo: %s %r: H and W must be positive multiples of 8" % (what, text))
    return h, w


def stage_loss(outs, heat_t, paf_t, emph, fg_weight):
    """Sum over stages of the weighted L2 losses (summed over cells, mean over the batch)."""
    n = heat_t.shape[0]
    wh = torch.cat([1.0 + fg_weight * emph, torch.ones_like(heat_t[:, -1:])], 1)
    wp = 1.0 + fg_weight * paf_t.abs()
    total = 0.0
    for paf, heat in outs:
        total = total + (wh * (heat.float() - heat_t) ** 2).sum() / n + (wp * (paf.float() - paf_t) ** 2).sum() / n
    return total


def set_train_mode(net, freeze_bn):
    """``net.train()``; with ``freeze_bn`` every BatchNorm stays in eval mode (its statistics fixed, its scale and
    shift still trained): the network then computes what the ONNX it came from computes (see --freeze-bn)."""
    net.train()
    if freeze_bn:
        for m in net.modules():
            if isinstance(m, torch.nn.BatchNorm2d):
                m.eval()
    return net


def lr_at(progress, base_lr, warmup=0.04, floor=0.02):
    """One-cycle: linear warm-up over the first ``warmup`` of the budget, then cosine down to ``floor``."""
    if progress < warmup:
        return base_lr * (0.05 + 0.95 * progress / warmup)
    p = min(1.0, (progress - warmup) / (1.0 - warmup))
    return base_lr * (floor + (1 - floor) * 0.5 * (1 + math.cos(math.pi * p)))


def pick_device(name):
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    dev = torch.device(name)
    if dev.type == "cuda" and not torch.cuda.is_available():
        raise SystemExit("train_demo: --device cuda: no CUDA GPU visible to torch (use --device cpu)")
    return dev


def requested_arch(args, init_arch):
    """The architecture: the init model's, with any architecture flag given on the command line on top."""
    arch = dict(init_arch or {})
    defaults = dict(width=0.125, deep_width=0.1875, stage_width=0.25, stages=3, stage_convs=3, stage_kernel=3)
    for k in ARCH_KEYS:
        v = getattr(args, k)
        if v is not None:
            arch[k] = v
        elif k not in arch:
            arch[k] = defaults[k]
    return arch


def train(args):
    torch.manual_seed(args.seed)
    torch.set_num_threads(args.threads)
    dev = pick_device(args.device)
    cuda = dev.type == "cuda"
    # CPU from scratch: 128x128 crops around people learn the most per CPU-minute. Continuing a model trained
    # on whole 240x320 views with such crops made it worse (validation loss 96 -> 111 in 8 min, BatchNorm frozen
    # or not), so a continued run keeps the export size unless --size says otherwise.
    fresh_start = not args.resume and (not args.init_from or args.init_from == "none")
    size = args.size or ((128, 128) if not cuda and fresh_start else args.export_size)
    os.makedirs(args.work, exist_ok=True)
    ckpt_path = os.path.join(args.work, "last.pt")

    state = None
    init_arch, init_note = None, "fresh initialisation"
    if args.resume:
        if not os.path.isfile(ckpt_path):
            raise SystemExit("train_demo: --resume: no checkpoint %s (run without --resume first)" % ckpt_path)
        state = torch.load(ckpt_path, map_location="cpu")
        init_arch = state["arch"]
        init_note = "checkpoint %s (step %d)" % (ckpt_path, state["step"])
    elif args.init_from and args.init_from != "none":
        if not os.path.isfile(args.init_from):
            raise SystemExit("train_demo: --init-from %s: no such file" % args.init_from)
        init_arch = arch_from_onnx(args.init_from)
    init_sha = sha256_file(args.init_from) if state is None and args.init_from and args.init_from != "none" else None
    arch = requested_arch(args, init_arch)
    net = build_net(arch)
    if state is not None:
        net.load_state_dict(state["model"])
    elif args.init_from and args.init_from != "none":
        loaded, total = load_onnx_weights(net, args.init_from)
        init_note = "%s (%d of %d conv layers loaded)" % (args.init_from, loaded, total)
        if args.freeze_bn is None:
            # An exported model has its BatchNorm folded into the convs; unfolded, each BatchNorm passes the folded
            # output through with fixed statistics. In training mode a BatchNorm would re-normalise with batch
            # statistics instead, a different network (measured: validation loss 96 -> 622 in 47 steps at a
            # learning rate below 5e-5). So a model continued from its ONNX keeps those statistics fixed.
            args.freeze_bn = loaded == total
    args.freeze_bn = bool(args.freeze_bn)
    history = state["history"] if state is not None else read_history(
        os.path.splitext(args.init_from)[0] + ".json" if args.init_from and args.init_from != "none" else None)

    # The workers start before CUDA is touched (fork), then the model moves to the device.
    run_seed_first = args.seed * CHUNKS_PER_SEED
    first = run_seed_first + (state["next_chunk"] - run_seed_first if state is not None and
                              state.get("next_chunk", 0) >= run_seed_first else 0)
    count = run_seed_first + CHUNKS_PER_SEED - first
    if first + count > TRAIN_SEED_LIMIT:
        raise SystemExit("train_demo: --seed %d: chunk seeds would reach the validation range" % args.seed)
    stream = ChunkStream(first, count, args.render_size, args.broad, args.per_sequence)
    loader = DataLoader(stream, batch_size=None, num_workers=args.workers, pin_memory=cuda,
                        prefetch_factor=2 if args.workers else None, persistent_workers=bool(args.workers))
    chunks = queue.Queue(maxsize=max(4, 4 * args.workers))
    stop = threading.Event()
    batches = iter(loader)  # forks the workers here, in the main thread, before CUDA is initialised
    feeder_thread = threading.Thread(target=feeder, args=(batches, chunks, stop), daemon=True)
    feeder_thread.start()

    net = net.to(dev)
    if cuda:
        net = net.to(memory_format=torch.channels_last)
        torch.backends.cudnn.benchmark = True
    opt = torch.optim.Adam(net.parameters(), lr=args.lr)
    if state is not None and "optim" in state:
        opt.load_state_dict(state["optim"])
    n_params = sum(p.numel() for p in net.parameters())
    log.info("device %s; BPNet-Lite %s, %.2fM parameters; init: %s%s", dev,
             ", ".join("%s %s" % (k, arch[k]) for k in ARCH_KEYS), n_params / 1e6, init_note,
             "; BatchNorm statistics fixed" if args.freeze_bn else "")
    log.info("training views %dx%d from frames %dx%d, batch %d, pool %d frames, %d render workers, budget %s",
             size[0], size[1], args.render_size[0], args.render_size[1], args.batch, args.pool, args.workers,
             "%.1f min" % args.minutes if args.minutes else "%d steps" % args.steps)

    val = validation_set(args.render_size, args.val_frames, 8)
    val = {k: v.to(dev) for k, v in val.items()}
    with torch.no_grad():
        vx, vh, vp, ve, _ = make_batch(val["images"], val["keypoints"], val["priority"], args.export_size,
                                       STRIDE, args.sigma, args.paf_width, augment=False)
    if cuda:
        vx = vx.contiguous(memory_format=torch.channels_last)

    pool = FramePool(args.pool, args.render_size, dev, 8)
    gen = torch.Generator(device=dev)
    gen.manual_seed(args.seed * 7919 + (state["step"] if state else 0))
    step = 0
    samples = fresh = 0
    consumed_max = first
    t0 = time.time()
    budget_s = args.minutes * 60.0 if args.minutes else None
    last_log = last_ckpt = t0
    run_loss = None
    best = state.get("best", float("inf")) if state else float("inf")
    min_fill = min(args.pool, max(args.batch, 64 if cuda else args.batch))

    def ingest(wait):
        """Move rendered chunks into the pool; ``wait``: block until at least one arrives."""
        nonlocal fresh, consumed_max
        got, deadline = 0, time.time() + 120.0
        while got < 4 * args.batch:
            try:
                item = chunks.get(timeout=1.0) if wait and got == 0 else chunks.get_nowait()
            except queue.Empty:
                if wait and got == 0:
                    if time.time() > deadline:
                        raise SystemExit("train_demo: no rendered frames for 120 s (render workers stuck?)")
                    continue
                break
            if isinstance(item, Exception):
                raise SystemExit("train_demo: a render worker failed: %s" % item)
            got += pool.add(item)
            fresh += item["images"].shape[0]
            consumed_max = max(consumed_max, int(item["chunk"]) + 1)
        return got

    def save(path, vloss):
        torch.save({"model": {k: v.detach().cpu() for k, v in net.state_dict().items()}, "optim": opt.state_dict(),
                    "arch": arch, "step": step + (state["step"] if state else 0), "val_loss": vloss,
                    "best": best, "next_chunk": consumed_max + 8 * max(1, args.workers),
                    "history": history, "samples": samples, "fresh": fresh,
                    "elapsed": time.time() - t0}, path + ".tmp")
        os.replace(path + ".tmp", path)

    def train_mode():
        set_train_mode(net, args.freeze_bn)

    def validate():
        net.eval()
        with torch.no_grad(), torch.autocast(dev.type, dtype=torch.bfloat16, enabled=cuda):
            v = float(stage_loss(net(vx)[-1:], vh, vp, ve, 0.0))
        train_mode()
        return v

    while pool.filled < min_fill:
        ingest(wait=True)
    log.info("pool primed with %d frames in %.1f s; validation loss at the start %.2f", pool.filled,
             time.time() - t0, validate())
    train_mode()
    # A fresh Adam moves every weight by about the learning rate per step whatever its gradient: from an ONNX (no
    # optimiser state) ramp up over at least 300 steps, or the first steps undo a trained model (measured on a
    # CPU: validation loss 96 -> 220 in 2 minutes with a 4 % warm-up of a 14-minute budget).
    warm_steps = 300.0 if state is None and init_arch is not None else 1.0
    # an interactive terminal gets a progress bar (percent of the budget) instead of the periodic log lines
    bar = edgepose_progress(1000, "training", unit="permille", logger=log) if interactive() else None
    shown = 0
    try:
        while True:
            now = time.time()
            progress = (now - t0) / budget_s if budget_s else step / max(1, args.steps)
            if bar is not None and int(1000 * min(1.0, progress)) > shown:
                bar.update(int(1000 * min(1.0, progress)) - shown)
                shown = int(1000 * min(1.0, progress))
                if run_loss is not None:
                    bar.set_postfix_str("step %d, loss %.1f, %.0f samples/s" % (step, run_loss,
                                                                                samples / max(1e-6, now - t0)))
            if progress >= 1.0:
                break
            # keep the reuse of renders bounded: wait for fresh frames when training runs far ahead
            if fresh < samples / args.min_reuse + min_fill:  # on a CPU, renders are not made faster than used
                ingest(wait=samples > args.max_reuse * max(1, fresh))
            for g in opt.param_groups:
                g["lr"] = lr_at(progress, args.lr) * min(1.0, (step + 1) / warm_steps)
            images, kps, pri = pool.sample(args.batch, gen)
            with torch.no_grad():
                x, heat_t, paf_t, emph, _ = make_batch(images, kps, pri, size, STRIDE, args.sigma, args.paf_width,
                                                       generator=gen, p_person=args.p_person)
            if cuda:
                x = x.contiguous(memory_format=torch.channels_last)
            with torch.autocast(dev.type, dtype=torch.bfloat16, enabled=cuda):
                outs = net(x)
            loss = stage_loss(outs, heat_t, paf_t, emph, args.fg_weight)
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            step += 1
            samples += args.batch
            if step % 10 == 0 or run_loss is None:
                lv = float(loss.detach())
                run_loss = lv if run_loss is None else 0.9 * run_loss + 0.1 * lv
            now = time.time()
            if bar is None and now - last_log >= args.log_seconds:
                el = now - t0
                log.info("step %d  %.0f%%  loss %.2f  lr %.2e  %.0f samples/s  %.0f fresh frames/s (reuse %.1f)  "
                         "%.1f min", step, 100 * progress, run_loss, opt.param_groups[0]["lr"], samples / el,
                         fresh / el, samples / max(1, fresh), el / 60)
                last_log = now
            if now - last_ckpt >= args.ckpt_minutes * 60:
                vloss = validate()
                if vloss < best:
                    best = vloss
                    save(os.path.join(args.work, "best.pt"), vloss)
                save(ckpt_path, vloss)
                log.info("checkpoint: validation loss %.2f (best %.2f)", vloss, best)
                last_ckpt = now
            if not budget_s and step >= args.steps:
                break
    finally:
        stop.set()
        if bar is not None:
            bar.close()
    vloss = validate()
    if vloss < best:
        best = vloss
        save(os.path.join(args.work, "best.pt"), vloss)
    wall = time.time() - t0
    run = {"command": "python tools/train_demo.py " + " ".join(args.argv), "device": describe_device(dev),
           "code_commit": code_commit(), "init_sha256": init_sha,
           "steps": step, "samples": samples, "fresh_frames": fresh, "wall_s": round(wall, 1),
           "train_size": list(size), "batch": args.batch, "lr": args.lr, "init": init_note,
           "freeze_bn": args.freeze_bn,
           "val_loss_last_stage": round(vloss, 3), "torch": str(torch.__version__),
           "finished": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())}
    history.setdefault("runs", []).append(run)
    history["samples_seen_total"] = int(sum(r.get("samples", 0) for r in history["runs"]))
    history["training_time_s_total"] = round(sum(r.get("wall_s", 0.0) for r in history["runs"]), 1)
    save(ckpt_path, vloss)
    log.info("training done: %d steps, %d samples (%d fresh frames) in %.1f min; validation loss %.2f",
             step, samples, fresh, wall / 60, vloss)
    return ckpt_path


def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0],
                                formatter_class=argparse.RawDescriptionHelpFormatter, epilog=__doc__)
    p.add_argument("--minutes", type=float, default=0.0, help="wall-clock training budget (default: --steps)")
    p.add_argument("--steps", type=int, default=2000, help="training steps when no --minutes")
    p.add_argument("--device", default="auto", help="auto (CUDA when available), cpu, cuda, cuda:N")
    p.add_argument("--batch", type=int, default=None, help="batch size (default 128 on CUDA, 16 on CPU)")
    p.add_argument("--size", default=None,
                   help="training view size HxW (default: --export-size; 128x128 on a CPU from scratch)")
    p.add_argument("--export-size", default="240x320", help="exported input size HxW (the profile's)")
    p.add_argument("--render-size", default="288x384", help="rendered frame size HxW (the clips')")
    for k, h in (("width", "backbone width of blocks 1-2"), ("deep-width", "backbone width of blocks 3+"),
                 ("stage-width", "stage width multiplier")):
        p.add_argument("--" + k, type=float, default=None, help=h + " (default: the init model's)")
    for k in ("stages", "stage-convs", "stage-kernel"):
        p.add_argument("--" + k, type=int, default=None, help="(default: the init model's)")
    p.add_argument("--init-from", default=DEFAULT_EXPORT, help="ONNX to start from ('none': fresh weights)")
    p.add_argument("--resume", action="store_true", help="continue from --work/last.pt")
    p.add_argument("--lr", type=float, default=None,
                   help="peak learning rate (default: from fresh weights 3e-3 CUDA, 2e-3 CPU; continuing a "
                        "trained model 1e-3 CUDA, 1e-4 CPU)")
    p.add_argument("--fg-weight", type=float, default=4.0, help="extra L2 weight on cells of visible parts")
    p.add_argument("--sigma", type=float, default=8.0, help="heatmap Gaussian sigma (input pixels)")
    p.add_argument("--paf-width", type=float, default=8.0, help="PAF band half-width (input pixels)")
    p.add_argument("--p-person", type=float, default=None,
                   help="share of person-centred views (0.6; 0.8 on a CPU from fresh weights)")
    p.add_argument("--freeze-bn", dest="freeze_bn", action="store_true", default=None,
                   help="keep BatchNorm statistics fixed (default when every layer comes from --init-from's ONNX, "
                        "whose BatchNorm is folded into the convs)")
    p.add_argument("--no-freeze-bn", dest="freeze_bn", action="store_false", help="let BatchNorm statistics train")
    p.add_argument("--broad", type=float, default=0.25, help="share of chunks of broad synthetic stills")
    p.add_argument("--per-sequence", type=int, default=6, help="frames drawn per scripted sequence")
    p.add_argument("--pool", type=int, default=None, help="frames kept for reuse (default 6000 CUDA, 192 CPU)")
    p.add_argument("--max-reuse", type=float, default=None, help="most samples per fresh frame (12 CUDA, 3 CPU)")
    p.add_argument("--min-reuse", type=float, default=None,
                   help="fewest samples per fresh frame: renders wait for the trainer (0.01 CUDA, 1.5 CPU)")
    p.add_argument("--seed", type=int, default=1, help="run seed: chunk seeds [seed*10^7, (seed+1)*10^7)")
    p.add_argument("--threads", type=int, default=1, help="torch threads of the training process")
    p.add_argument("--workers", type=int, default=1, help="render worker processes")
    p.add_argument("--val-frames", type=int, default=48)
    p.add_argument("--log-seconds", type=float, default=30.0)
    p.add_argument("--ckpt-minutes", type=float, default=3.0)
    p.add_argument("--work", default=os.path.join(ROOT, "build", "demo-train"))
    p.add_argument("--export", default=DEFAULT_EXPORT)
    p.add_argument("--out-dir", help="also copy the model, facts and checkpoint here")
    p.add_argument("--export-only", metavar="CKPT", help="export this checkpoint, no training")
    args = p.parse_args(argv)
    args.argv = list(sys.argv[1:] if argv is None else argv)
    cuda = pick_device(args.device).type == "cuda"
    args.size = parse_size(args.size, "--size") if args.size else None
    args.export_size = parse_size(args.export_size, "--export-size")
    args.render_size = parse_size(args.render_size, "--render-size")
    args.batch = args.batch or (128 if cuda else 16)
    continuing = args.resume or bool(args.init_from and args.init_from != "none")
    # a trained model is fine-tuned gently (a 2e-3 peak undid the bundled model's training within a few
    # steps on a CPU batch of 16: validation loss 96 -> 1110); fresh weights get the one-cycle's full peak
    args.lr = args.lr or ((1e-3 if cuda else 1e-4) if continuing else (3e-3 if cuda else 2e-3))
    args.p_person = args.p_person if args.p_person is not None else (0.6 if cuda or continuing else 0.8)
    args.pool = args.pool or (6000 if cuda else 192)
    args.max_reuse = args.max_reuse or (12.0 if cuda else 3.0)
    args.min_reuse = args.min_reuse or (0.01 if cuda else 1.5)
    if not 0 <= args.seed < TRAIN_SEED_LIMIT // CHUNKS_PER_SEED:
        p.error("--seed must be in [0, %d)" % (TRAIN_SEED_LIMIT // CHUNKS_PER_SEED))
    return args


def main(argv=None):
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s", datefmt="%H:%M:%S")
    args = parse_args(argv)
    if args.export_only:
        export(args, args.export_only)
    else:
        export(args, train(args))
    return 0


if __name__ == "__main__":
    sys.exit(main())
