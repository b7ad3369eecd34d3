"""People from limb candidates: greedy assignment per limb and OpenPose-style assembly.

Limbs are visited in profile order; inside a limb, candidate pairs in order of descending score. A
pair is accepted when neither of its keypoints is already used by an accepted pair of the same limb
(greedy bipartite matching, as OpenPose and tf-pose do). Each accepted pair then

- starts a new person when neither keypoint belongs to one yet, unless the limb is one of the
  profile's ``seedless_limbs`` (e.g. ear limbs, which would otherwise make head-only ghosts);
- extends the person that owns one of its keypoints, when that person's slot for the other part
  is still free (a slot already taken by another keypoint is never overwritten);
- merges two partial people that own its two keypoints when they have no part in common.

A keypoint belongs to at most one person. Person score, as in OpenPose and tf-pose's pafprocess:
``(sum of its keypoint scores + sum of its limb scores) / number of its keypoints``. People with
fewer than ``min_parts`` keypoints or a score below ``min_person_score`` are dropped, after the
fragments of people whose neck is missing are joined where they fit one body (``fragments``).
"""
from ..topology import NUM_KEYPOINTS
from .fragments import join_fragments


def assemble(peaks, cands, limb_parts, seedless, min_parts, min_person_score, join_slack=None, size=None):
    """``[(parts, score)]``: per person the 18 peak indices (-1 where missing) and its score.

    ``peaks``: ``Peaks``; ``cands``: ``LimbCandidates`` (sorted by limb, then descending score);
    ``limb_parts``: (L, 2) keypoint of each limb's ends; ``seedless``: L booleans; ``join_slack``:
    join the fragments of people without a neck that fit one body (``fragments.join_fragments``),
    None: do not; ``size``: the network input (H, W) the peaks lie in (needed to join). People come out
    by descending score.
    """
    if len(cands.limb) == 0:
        return []
    people = _grow(peaks, cands, limb_parts, seedless)
    if join_slack is not None:
        people = join_fragments(people, peaks, size, join_slack, min_parts, min_person_score)
    out = []
    for parts, total, count in people:
        if count < min_parts:
            continue
        score = total / count
        if score >= min_person_score:
            out.append((parts, score))
    out.sort(key=lambda ps: -ps[1])
    return out


def _grow(peaks, cands, limb_parts, seedless):
    """Partial people ``[parts, summed score, number of parts]`` from the limb candidates (module doc)."""
    kscore = peaks.score.tolist()
    owner = [-1] * len(kscore)
    ends = limb_parts.tolist()
    people = []  # [parts (list of 18 peak indices), summed score, number of parts]; None once merged
    cur = -1
    used_a = used_b = None
    ka = kb = 0
    seed = True
    for limb, a, b, s in zip(cands.limb.tolist(), cands.a.tolist(), cands.b.tolist(), cands.score.tolist()):
        if limb != cur:
            cur = limb
            used_a, used_b = set(), set()
            ka, kb = ends[limb]
            seed = not seedless[limb]
        if a in used_a or b in used_b:
            continue
        used_a.add(a)
        used_b.add(b)
        pa, pb = owner[a], owner[b]
        if pa < 0 and pb < 0:
            if seed:
                parts = [-1] * NUM_KEYPOINTS
                parts[ka], parts[kb] = a, b
                owner[a] = owner[b] = len(people)
                people.append([parts, kscore[a] + kscore[b] + s, 2])
        elif pb < 0:
            person = people[pa]
            if person[0][kb] < 0:
                person[0][kb] = b
                person[1] += kscore[b] + s
                person[2] += 1
                owner[b] = pa
        elif pa < 0:
            person = people[pb]
            if person[0][ka] < 0:
                person[0][ka] = a
                person[1] += kscore[a] + s
                person[2] += 1
                owner[a] = pb
        elif pa != pb:
            p, q = people[pa], people[pb]
            if all(i < 0 or j < 0 for i, j in zip(p[0], q[0])):
                for k, j in enumerate(q[0]):
                    if j >= 0:
                        p[0][k] = j
                        owner[j] = pa
                p[1] += q[1] + s
                p[2] += q[2]
                people[pb] = None
    return [p for p in people if p is not None]
