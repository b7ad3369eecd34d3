"""Ground-truth heatmaps/PAFs from known skeletons, and scenes + matching helpers for decoder tests.

The renderer itself lives in ``edgepose.synth.targets`` (training targets, the benchmark and
``edgepose eval --oracle`` use it too), the stick figures in ``edgepose.synth.figures``; this module
re-exports it and adds what tests need: profiles in either layout, test scenes (several people,
crossing limbs, people cut by the image border, a crowd), the people a perfect decoder must find
in a scene, and matching of decoded people to them.

    from maps import render, scene, expected_people, match
    outs = render("tao-bpnet", people, layout="NCHW")
"""
import numpy as np

from edgepose.profiles import Profile, load_profile
from edgepose.synth.figures import crowd, skeleton  # noqa: F401
from edgepose.synth.targets import labelled, render_maps  # noqa: F401
from edgepose.topology import KP

SCENES = ("several", "crossing", "truncated", "crowd")


def profile(name, layout=None):
    """Built-in profile ``name``, with its outputs' layout switched to ``layout`` when given."""
    prof = load_profile(name)
    if layout is None or layout == prof.outputs.layout:
        return prof
    data = prof.model_dump()
    data["outputs"]["layout"] = layout
    return Profile.model_validate(data)


def render(prof, people, size=None, **kw):
    """``render_maps`` for a profile object or name (see ``edgepose.synth.targets``)."""
    prof = profile(prof) if isinstance(prof, str) else prof
    return render_maps(prof, np.asarray(people, dtype=np.float32), size, **kw)


def _set(person, **parts):
    p = person.copy()
    for name, (x, y) in parts.items():
        p[KP[name], :2] = (x, y)
    return p


def crossing_segments(people):
    """The two left forearms of the crossing scene (for a sanity check that they do cross)."""
    return [(p[KP["l_elbow"], :2], p[KP["l_wrist"], :2]) for p in people]


def scene(name, size):
    """``(N, 18, 3)`` people (x, y, v in network-input pixels) for a test scene in an image of ``size``."""
    h, w = size
    if name == "several":
        return crowd(5, size, seed=3)
    if name == "crowd":
        return crowd(12, size, seed=7)
    if name == "crossing":
        # Two people side by side; their LEFT forearms (the same limb, so the same PAF channels)
        # cross at about 90 degrees between them.
        ht = 0.7 * h
        cy = 0.5 * h + 0.05 * ht
        a = skeleton(0.36 * w, cy, ht)
        b = skeleton(0.64 * w, cy, ht)
        ya = a[KP["l_shoulder"], 1]
        a = _set(a, l_elbow=(0.50 * w, ya + 0.05 * ht), l_wrist=(0.62 * w, ya + 0.22 * ht))
        b = _set(b, l_elbow=(0.60 * w, ya + 0.07 * ht), l_wrist=(0.49 * w, ya + 0.21 * ht))
        return np.stack([a, b])
    if name == "truncated":
        # Cut by the image border: half outside on the left, legs below the bottom, head above the top,
        # right half outside on the right. Keypoints outside the image are not labelled.
        ht = 0.8 * h
        return np.stack([
            skeleton(2.0, 0.5 * h, ht),                       # right side outside (x < 0)
            skeleton(0.35 * w, h - 0.05 * ht, ht),            # knees and ankles below the bottom
            skeleton(0.62 * w, 0.31 * ht, ht, "arms_out"),     # nose, eyes, ears above the top
            skeleton(w - 3.0, 0.5 * h, ht),                   # left side outside
        ])
    raise KeyError(name)


def expected_people(people, size, prof, min_parts=None):
    """What a perfect decoder finds: ``[(truth index, bool (18,) parts)]``.

    The labelled keypoints of each person split into the pieces the profile's limbs connect; a
    piece with at least ``min_parts`` keypoints (default: the profile's) is one expected person.
    """
    min_parts = prof.decode.min_parts if min_parts is None else min_parts
    vis = labelled(people, size)
    out = []
    for i in range(len(people)):
        comp = list(range(len(KP)))

        def root(k):
            while comp[k] != k:
                comp[k] = comp[comp[k]]
                k = comp[k]
            return k

        for a, b in prof.limb_parts.tolist():
            if vis[i, a] and vis[i, b]:
                comp[root(a)] = root(b)
        roots = {}
        for k in np.flatnonzero(vis[i]):
            roots.setdefault(root(k), []).append(k)
        for parts in roots.values():
            if len(parts) >= min_parts:
                mask = np.zeros(len(KP), dtype=bool)
                mask[parts] = True
                out.append((i, mask))
    return out


def match(found, people, expected):
    """Pair each expected person with a decoded one: ``[(truth index, parts, Person, errors (18,))]``.

    Each decoded person is used at most once (greedy by mean keypoint distance over common parts);
    errors are pixel distances (NaN where either side lacks the keypoint). Unmatched expected people
    get ``None`` as Person.
    """
    pairs = []
    for e, (i, parts) in enumerate(expected):
        for j, person in enumerate(found):
            d = np.hypot(*(person.keypoints[:, :2] - people[i, :, :2]).T)
            common = parts & person.present
            if common.any():
                pairs.append((float(np.mean(d[common])), e, j, d))
    pairs.sort(key=lambda t: t[0])
    used_e, used_j, result = set(), set(), {}
    for _, e, j, d in pairs:
        if e in used_e or j in used_j:
            continue
        used_e.add(e)
        used_j.add(j)
        result[e] = (found[j], d)
    out = []
    for e, (i, parts) in enumerate(expected):
        person, d = result.get(e, (None, None))
        out.append((i, parts, person, d))
    return out
