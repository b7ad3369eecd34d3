"""People whose neck is missing: their fragments joined when they fit one body.

Every BodyPoseNet limb chain goes through the neck, so a person whose neck has no peak (cut at the top
or side of the frame, head hidden) leaves ``group``'s assembly as fragments (a leg, an arm, the head:
2-4 keypoints each) that ``min_parts`` drops, and so do a person's limbs whose PAF failed. No PAF joins
the fragments (no limb joins two hips, or a shoulder to a hip), so they are joined on geometry alone:

- ``REACH[p, q]``: the longest distance keypoints p and q of one body can be apart, in body heights:
  the shortest path over a graph of anatomical segment lengths (thigh, shin, upper arm, forearm,
  neck-nose, nose-eye, eye-ear) and a rigid torso (hips, shoulders and neck: bending the spine only
  brings them closer). An image is a projection, so 2D distances are at most these.
- A fragment's (or group's) scale: the smallest body height that fits it, the maximum over pairs of
  its keypoints of distance / REACH (a lower bound of the true height: projection only shortens).
- Two groups fit one body when they share no part and every pair of keypoints across them is within
  ``slack * REACH * scale`` (the larger of the two scales).
- Candidates are the pairs of fragments that fit and are linked (a part of one at most three body
  segments from a part of the other), joined greedily, the closest link first (``_LINK``: a torso link
  -- the two hips, the two shoulders, a shoulder and a hip -- then one, two, three segments), among
  equals the one whose linking keypoints are snuggest (distance / reach). Two fragments that each have a neck are never joined (the PAF told them
  apart). A piece too small to be a person (fewer than ``min_parts`` keypoints, a lone peak included)
  joins the person it is attached to. Two pieces without a neck join through the torso, or through
  any link when the missing neck can lie outside the image (every keypoint within reach of a point
  beyond one border). A person without a neck joins one with a neck attached to it by a segment.
- Only fragments that each score as a person would (mean score >= ``min_person_score``) take part:
  nothing vouches for these joins but geometry, so weak pieces of real networks stay out.
- A joined group without a neck that fits a person who has one is dropped (most likely that person's
  own limbs, not somebody else); a fragment that joins nothing is left as it was.

The keypoints of the fragments that may join anything (without a neck, or too small to be a person)
are compared with every keypoint of the image's people and fragments in a few numpy expressions (one
``(Ma, M)`` matrix), then a short greedy loop runs over the linked pairs.
"""
import numpy as np

from ..topology import KP, NUM_KEYPOINTS

# Anatomical segment lengths in body heights (rounded up: REACH is an upper bound).
_SEGMENTS = (
    ("r_hip", "r_knee", 0.25), ("r_knee", "r_ankle", 0.26), ("l_hip", "l_knee", 0.25), ("l_knee", "l_ankle", 0.26),
    ("r_shoulder", "r_elbow", 0.19), ("r_elbow", "r_wrist", 0.16),
    ("l_shoulder", "l_elbow", 0.19), ("l_elbow", "l_wrist", 0.16),
    ("neck", "nose", 0.13), ("nose", "r_eye", 0.04), ("nose", "l_eye", 0.04),
    ("r_eye", "r_ear", 0.07), ("l_eye", "l_ear", 0.07), ("r_shoulder", "r_ear", 0.22), ("l_shoulder", "l_ear", 0.22),
    # the torso, a rigid block: neck = the shoulders' midpoint, 0.30 above the hips; hips as annotators
    # place them (COCO: on the hip bones, wider than the joints' 0.11)
    ("neck", "r_shoulder", 0.12), ("neck", "l_shoulder", 0.12), ("r_shoulder", "l_shoulder", 0.24),
    ("r_hip", "l_hip", 0.18), ("neck", "r_hip", 0.32), ("neck", "l_hip", 0.32),
    ("r_shoulder", "r_hip", 0.32), ("l_shoulder", "l_hip", 0.32),
    ("r_shoulder", "l_hip", 0.38), ("l_shoulder", "r_hip", 0.38),
)
TORSO_LINKS = (("r_hip", "l_hip"), ("r_shoulder", "l_shoulder"), ("r_shoulder", "r_hip"), ("l_shoulder", "l_hip"),
               ("r_shoulder", "l_hip"), ("l_shoulder", "r_hip"))


def _shortest_paths(weight):
    """``(18, 18)`` shortest paths over the ``_SEGMENTS`` graph, each segment weighing ``weight(length)``."""
    d = np.full((NUM_KEYPOINTS, NUM_KEYPOINTS), np.inf)
    np.fill_diagonal(d, 0.0)
    for a, b, length in _SEGMENTS:
        d[KP[a], KP[b]] = d[KP[b], KP[a]] = min(d[KP[a], KP[b]], weight(length))
    for k in range(NUM_KEYPOINTS):  # Floyd-Warshall
        d = np.minimum(d, d[:, k:k + 1] + d[k:k + 1, :])
    return d


REACH = _shortest_paths(lambda length: length)   # the longest distance two keypoints of one body can have
HOPS = _shortest_paths(lambda length: 1.0)       # body segments between two keypoints
# how closely two keypoints are linked: 4 a torso link, 3 one body segment, 2 two segments, 1 three, 0 farther
_LINK = np.select([HOPS == 1, HOPS == 2, HOPS == 3], [3, 2, 1], 0).astype(np.uint8)
for _a, _b in TORSO_LINKS:
    _LINK[KP[_a], KP[_b]] = _LINK[KP[_b], KP[_a]] = 4
_INV_REACH = np.where(REACH > 0, 1.0 / np.where(REACH > 0, REACH, 1.0), 0.0).astype(np.float32)
NECK = KP["neck"]


def _neck_may_be_outside(pts, part, starts, size_hw, slack):
    """``(F, 4)``: per fragment and image side (left, right, top, bottom), the body height from which
    the fragment's neck could lie beyond that side (every keypoint within reach of it)."""
    h, w = size_hw
    edge = np.stack([pts[:, 0] + 0.5, w - 0.5 - pts[:, 0], pts[:, 1] + 0.5, h - 0.5 - pts[:, 1]], axis=1)
    reach = REACH[part, NECK][:, None] * slack
    need = np.full(edge.shape, np.inf, dtype=np.float32)            # a neck in the image is not outside it
    np.divide(np.maximum(edge, 0.0), reach, out=need, where=reach > 0)
    return np.maximum.reduceat(need, starts, axis=0)


def join_fragments(people, peaks, size_hw, slack, min_parts, min_score):
    """Join the fragments among ``people`` that fit one body (see the module doc).

    people: ``[parts (18 peak indices, -1 = none), summed score, number of parts]`` as ``group`` grows
    them; peaks: the image's ``Peaks``; size_hw: the network input (H, W); min_parts, min_score: what
    makes a person (``min_parts``, ``min_person_score``). Returns the new list.
    """
    if not people:
        return people
    ids = np.array([p[0] for p in people], dtype=np.int64)          # (P, 18)
    # peaks in nobody's parts are fragments of one keypoint
    free = peaks.score >= min_score
    free[ids[ids >= 0]] = False
    single = np.flatnonzero(free)
    if len(single):
        rows = np.full((len(single), NUM_KEYPOINTS), -1, dtype=np.int64)
        rows[np.arange(len(single)), peaks.part[single]] = single
        ids = np.concatenate([ids, rows])
    n = len(ids)
    present = ids >= 0
    neck = present[:, NECK]
    counts = present.sum(axis=1)
    mean = np.array([p[1] / p[2] for p in people] + peaks.score[single].tolist())
    # only fragments that each score as a person would take part (nothing but geometry vouches for a
    # join); a person with a neck joins only pieces without one or too small to be a person ("active")
    strong = mean >= min_score
    active = strong & (~neck | (counts < min_parts))
    if not active.any():
        return people
    act = np.flatnonzero(active)                                    # (A,) active fragments
    frag, part = np.nonzero(present)                                # members, sorted by fragment
    pts = peaks.xy[ids[frag, part]].astype(np.float32)              # (M, 2)
    starts = np.cumsum(counts) - counts                             # each fragment's first member

    # each fragment's scale: the smallest body height that fits it (pairs of its own keypoints)
    reps = counts[frag]
    ii = np.repeat(np.arange(len(frag)), reps)
    jj = np.repeat(starts[frag], reps) + np.arange(len(ii)) - np.repeat(np.cumsum(reps) - reps, reps)
    d = pts[ii] - pts[jj]
    own = np.sqrt((d * d).sum(axis=1)) * _INV_REACH[part[ii], part[jj]]
    scale = np.maximum.reduceat(own, np.cumsum(counts * counts) - counts * counts)  # (F,)

    # active fragments' keypoints against every keypoint: distance / reach, (Ma, M)
    am = np.flatnonzero(active[frag])
    astarts = np.cumsum(counts[act]) - counts[act]
    d = pts[am][:, None, :] - pts[None, :, :]
    ratio = np.sqrt((d * d).sum(axis=2)) * _INV_REACH[part[am][:, None], part[None, :]]

    def per_pair(a):                                                # (Ma, M) -> (A, F) maxima
        return np.maximum.reduceat(np.maximum.reduceat(a, starts, axis=1), astarts, axis=0)

    pair_scale = np.maximum(scale[act][:, None], scale[None, :])   # (A, F)
    link = _LINK[part[am][:, None], part[None, :]]
    links = per_pair(link)                                          # closest link, see _LINK
    # how well the closest link itself fits: its distance / reach (the largest, if several)
    at_link = link == links[np.repeat(np.arange(len(act)), counts[act])[:, None], frag[None, :]]
    with np.errstate(divide="ignore", invalid="ignore"):
        tight = per_pair(ratio) / pair_scale                        # worst distance / bound
        snug = per_pair(np.where(at_link, ratio, 0.0)) / pair_scale
    fits = (~(present[act][:, None, :] & present[None, :, :]).any(axis=2) & (pair_scale > 0) & (tight <= slack)
            & strong[None, :])
    fits[np.arange(len(act)), act] = False
    out_side = _neck_may_be_outside(pts, part, starts, size_hw, slack)  # (F, 4)
    cut = (np.maximum(out_side[act][:, None, :], out_side[None, :, :]) <= pair_scale[:, :, None]).any(axis=2)

    owner = list(range(n))                                          # fragment -> its group (lowest member)
    groups = {f: [f] for f in range(n)}
    size = counts.tolist()
    has_neck = neck.tolist()
    all_active = active.tolist()                                    # groups of active fragments only
    slots = present.copy()                                          # (F, 18) parts of each group
    members = {f: np.arange(starts[f], starts[f] + counts[f]) for f in range(n)}
    row_of = np.full(len(frag), -1, dtype=np.int64)
    row_of[am] = np.arange(len(am))
    gscale = scale.tolist()

    def body(a):
        return size[a] >= min_parts

    def may_join(i, f, g, level):
        a, b = owner[f], owner[g]
        if has_neck[a] and has_neck[b]:
            return False                    # two people the PAF already told apart
        if body(a) != body(b):
            return True                     # a piece too small to be a person joins the one it is attached to
        if not (has_neck[a] or has_neck[b]):
            # people without a neck: through the torso (hips, shoulders, a shoulder and a hip), or also
            # through their limbs when the missing neck can lie outside the image
            return level == 4 or bool(cut[i, g])
        return body(a) and level >= 3       # a person without a neck and one with, attached by a segment

    def join(f, g):
        """Join the groups of fragments f and g when they fit one body (their own scales, all members)."""
        a, b = sorted((owner[f], owner[g]))
        if a == b or (slots[a] & slots[b]).any():
            return
        r, c = (a, b) if all_active[a] else (b, a)                  # one of them has no neck: all active
        cross = ratio[np.ix_(row_of[members[r]], members[c])].max()
        if cross > slack * max(gscale[a], gscale[b]):
            return
        groups[a] += groups.pop(b)
        for m in groups[a]:
            owner[m] = a
        members[a] = np.concatenate([members[a], members.pop(b)])
        slots[a] |= slots[b]
        gscale[a] = max(gscale[a], gscale[b], cross)
        size[a] += size[b]
        has_neck[a] = has_neck[a] or has_neck[b]
        all_active[a] = all_active[a] and all_active[b]

    # candidate pairs (each once), the closest links first (torso, one segment, two, three), among
    # equals the snuggest link
    ai, g = np.nonzero(fits & (links >= 1))
    f = act[ai]
    once = ~active[g] | (f < g)
    ai, f, g = ai[once], f[once], g[once]
    level = links[ai, g].astype(np.int64)
    order = np.lexsort((snug[ai, g], -level))
    for i, fi, gi, lv in zip(ai[order].tolist(), f[order].tolist(), g[order].tolist(), level[order].tolist()):
        if may_join(i, fi, gi, lv):
            join(fi, gi)

    necked = [f for f in np.flatnonzero(neck).tolist() if body(owner[f])]
    arow = np.full(n, -1, dtype=np.int64)
    arow[act] = np.arange(len(act))
    out = []
    for a, ms in groups.items():
        if len(ms) == 1:
            if a < len(people):
                out.append(people[a])
            continue
        if not has_neck[a] and necked and fits[np.ix_(arow[ms], necked)].all(axis=0).any():
            continue  # it fits a person with a neck: most likely that person's own limbs, not somebody else
        parts = [-1] * NUM_KEYPOINTS
        total = 0.0
        for m in ms:
            for k, j in enumerate(ids[m].tolist()):
                if j >= 0:
                    parts[k] = j
            total += people[m][1] if m < len(people) else float(peaks.score[ids[m].max()])
        out.append([parts, total, size[a]])
    return out
