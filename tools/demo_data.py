"""Training data for the demo model: frames of the demo's world, rendered by a pool of workers.

The demo model's job is the world of the scenario clips (``edgepose.synth.SCENARIOS``): rooms seen by a
wall-mounted or level camera, one to four people standing, walking, sitting, bending, lying and falling.
A training item is a *chunk* of frames of one size (default 288x384, the clips' size), each with its
people's keypoints and a priority per person that steers person-centred crops (``torch_targets``):

- demo-world frames (``world_frames``): a scenario sequence is scripted without drawing (cheap), a few of
  its frames are picked, weighted toward frames with someone lying, fallen or falling, and only those are
  drawn; the scenario mix is weighted toward falls and lying down;
- broad scenes (``broad_frames``, a fraction ``broad`` of the chunks): ``edgepose.synth.render_scene`` stills
  (0-6 people in any pose), so that the model keeps working beyond the demo's world.

Seeds: chunk ``c`` of a run with base ``b`` uses seed ``b + c``; ``chunk_ids(worker, workers, first,
count)`` shards them across DataLoader workers so that every chunk is made exactly once. Training seeds
stay below ``TRAIN_SEED_LIMIT``: validation (900000000...) and held-out test seeds (950000000..., 990000000...)
are never drawn. Only the numpy parts are here; ``ChunkStream`` (torch) wraps them for a DataLoader.
"""
import numpy as np

from edgepose.topology import NUM_KEYPOINTS

TRAIN_SEED_LIMIT = 800_000_000
MAX_PEOPLE = 8

# scenario -> weight in the mix (falls and lying down oversampled: what the product is for)
SCENARIO_WEIGHTS = {
    "walking": 1.0, "standing": 0.8, "sit_chair": 1.0, "sit_fast": 0.6, "bend_pick": 1.0, "crouch": 0.8,
    "lie_bed": 1.5, "lie_floor_slow": 1.6, "fall_forward": 1.5, "fall_backward": 1.5, "fall_sideways": 1.5,
    "fall_from_sitting": 1.5, "slide_wall": 1.2, "fall_recover": 1.5, "fall_toward_camera": 1.5, "crossing": 1.2,
    "mixed": 2.0,
}
DOWN = {"lying", "fallen", "lying_down", "falling", "getting_up"}
LOW = {"sitting", "sitting_down", "standing_up", "crouching", "bending"}
# person priority for person-centred views, by activity (sequences) or pose family (stills)
PRIORITY = {"down": 4.0, "low": 1.5, "up": 1.0}
STILL_DOWN = {"lie", "fall"}
STILL_LOW = {"sit_chair", "sit_floor", "bend", "crouch", "kneel"}


def posture_of(label):
    """'down' (lying, fallen, falling), 'low' (sitting, crouching, bending) or 'up' for an activity label or
    a still's pose family."""
    if label in DOWN or label in STILL_DOWN:
        return "down"
    if label in LOW or label in STILL_LOW:
        return "low"
    return "up"


def chunk_ids(worker, workers, first, count):
    """The chunk indices one DataLoader worker makes: ``first + worker, first + worker + workers, ...`` below
    ``first + count`` (every chunk exactly once over all workers)."""
    return range(first + worker, first + count, max(1, workers))


def pack_frames(frames, size):
    """[(image, keypoints (N, 18, 3), priorities (N,))] -> chunk dict of fixed-shape arrays (people padded to
    ``MAX_PEOPLE`` with v = 0)."""
    n = len(frames)
    images = np.zeros((n, size[0], size[1], 3), np.uint8)
    kps = np.zeros((n, MAX_PEOPLE, NUM_KEYPOINTS, 3), np.float32)
    pri = np.zeros((n, MAX_PEOPLE), np.float32)
    for i, (img, k, p) in enumerate(frames):
        images[i] = img
        k = np.asarray(k, np.float32).reshape(-1, NUM_KEYPOINTS, 3)[:MAX_PEOPLE]
        k = np.where(np.isfinite(k), k, 0.0)
        k[k[..., 2] <= 0] = 0.0
        kps[i, :len(k)] = k
        pri[i, :len(k)] = np.asarray(p, np.float32)[:MAX_PEOPLE]
    return {"images": images, "keypoints": kps, "priority": pri}


def _jpeg(img, rng):
    """Half of the frames pass through a JPEG round trip (the clips are compressed video)."""
    if rng.random() < 0.5:
        from edgepose import deps

        cv2 = deps.load("cv2", "tools/demo_data.py")
        ok, buf = cv2.imencode(".jpg", img, [cv2.IMWRITE_JPEG_QUALITY, int(rng.integers(35, 95))])
        if ok:
            return cv2.imdecode(buf, cv2.IMREAD_COLOR)
    return img


def world_frames(seed, size=(288, 384), per_sequence=6, fps=5.0):
    """Frames of one scripted scenario sequence (see module doc): [(image, keypoints, priorities)]."""
    from edgepose.synth import generate_sequence
    from edgepose.synth.scene import Actor, render_world

    rng = np.random.default_rng([int(seed), 0xD3E0])
    names = sorted(SCENARIO_WEIGHTS)
    w = np.array([SCENARIO_WEIGHTS[n] for n in names])
    name = names[int(rng.choice(len(names), p=w / w.sum()))]
    seq = generate_sequence(name, int(seed), fps=fps, size=size)
    n = len(seq.frames)
    weight = np.ones(n)
    for i, fr in enumerate(seq.frames):
        labels = fr["activity"].values()
        if any(lab in DOWN for lab in labels):
            weight[i] = 4.0
        elif any(lab in LOW for lab in labels):
            weight[i] = 1.5
        if not fr["people"]:
            weight[i] = 0.2
    pick = rng.choice(n, size=min(per_sequence, n), replace=False, p=weight / weight.sum())
    world = seq.world
    fx0 = dict(world.effects)
    out = []
    try:
        for i in sorted(int(v) for v in pick):
            fx = dict(fx0)
            fx["offset"] = (int(rng.integers(0, 512)), int(rng.integers(0, 512)))
            if rng.random() < 0.15:
                fx["ir"] = True
            world.effects = fx
            activity = seq.frames[i]["activity"]
            actors = []
            for k, pose, prop in seq.poses[i]:
                tr = seq.tracks[k]
                actors.append(Actor(tr.body, tr.look, pose, activity.get(str(tr.track_id), "standing"), prop,
                                    tr.track_id))
            scene = render_world(world, actors)
            pri = [PRIORITY[posture_of(kind)] for kind in scene.kinds]
            out.append((_jpeg(scene.image, rng), scene.keypoints, pri))
    finally:
        world.effects = fx0
    return out


def broad_frames(seed, size=(288, 384), count=4):
    """``count`` broad synthetic stills (``render_scene``) from one seed: [(image, keypoints, priorities)]."""
    from edgepose.synth import render_scene

    rng = np.random.default_rng([int(seed), 0xB50AD])
    out = []
    for i in range(count):
        scene = render_scene([int(seed), 0xB50AD, i], size=tuple(size))
        pri = [PRIORITY[posture_of(kind)] for kind in scene.kinds]
        out.append((_jpeg(scene.image, rng), scene.keypoints, pri))
    return out


def make_chunk(seed, size=(288, 384), broad=0.25, per_sequence=6):
    """One chunk (dict of arrays, see ``pack_frames``) for a chunk seed: demo-world frames, or broad stills with
    probability ``broad``."""
    if not 0 <= int(seed) < TRAIN_SEED_LIMIT:
        raise ValueError("training seed %d outside [0, %d): it could collide with validation or test seeds"
                         % (seed, TRAIN_SEED_LIMIT))
    rng = np.random.default_rng([int(seed), 0xC4])
    if rng.random() < broad:
        frames = broad_frames(seed, size, count=per_sequence)
    else:
        frames = world_frames(seed, size, per_sequence=per_sequence)
    return pack_frames(frames, size)
