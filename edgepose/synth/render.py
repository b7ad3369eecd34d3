"""Drawing people and boxes with OpenCV, into a BGR image and a part-label image at once.

The label image says which person part (or nothing) owns each pixel: ``person * 16 + part`` for
people (person 1..15, part 1..15), 0 for background and props. Keypoint visibility and visible
boxes are read from it, so the ground truth always agrees with the pixels.
"""
from dataclasses import dataclass
from math import floor
from typing import Tuple

import numpy as np

from .. import deps
from .skeleton import FACE_THRESHOLDS, HEAD_RX, HEAD_RY, X, face_facing
from ..topology import KP

SHIFT = 3
ONE = 1 << SHIFT

PARTS = ("torso", "neck", "head", "l_upper_arm", "l_forearm", "l_hand", "r_upper_arm", "r_forearm", "r_hand",
         "l_thigh", "l_shin", "l_foot", "r_thigh", "r_shin", "r_foot")
PART = {name: i + 1 for i, name in enumerate(PARTS)}

# parts whose pixels make a keypoint "visible"
OWNERS = {
    "nose": ("head",), "l_eye": ("head",), "r_eye": ("head",), "l_ear": ("head",), "r_ear": ("head",),
    "neck": ("torso", "neck"),
}
for _s in ("l", "r"):
    OWNERS[_s + "_shoulder"] = ("torso", _s + "_upper_arm")
    OWNERS[_s + "_elbow"] = (_s + "_upper_arm", _s + "_forearm")
    OWNERS[_s + "_wrist"] = (_s + "_forearm", _s + "_hand")
    OWNERS[_s + "_hip"] = ("torso", _s + "_thigh")
    OWNERS[_s + "_knee"] = (_s + "_thigh", _s + "_shin")
    OWNERS[_s + "_ankle"] = (_s + "_shin", _s + "_foot")

SKIN_TONES = ((203, 224, 255), (170, 205, 240), (140, 180, 225), (110, 150, 200), (80, 115, 165),
              (60, 85, 125), (45, 60, 95), (150, 195, 235))
HAIR = ((20, 20, 25), (30, 45, 70), (40, 70, 110), (70, 120, 170), (160, 160, 165), (200, 200, 205),
        (25, 35, 50), (60, 90, 140))


def _rand_color(rng, lo=20, hi=235):
    return tuple(int(v) for v in rng.integers(lo, hi, 3))


@dataclass
class Look:
    """How one person is dressed (BGR colours)."""

    skin: Tuple[int, int, int]
    hair: Tuple[int, int, int]
    hair_style: str          # "short", "long", "bald"
    shirt: Tuple[int, int, int]
    stripes: Tuple[int, int, int]
    n_stripes: int           # 0 = plain
    long_sleeves: bool
    trousers: Tuple[int, int, int]
    long_trousers: bool
    shoes: Tuple[int, int, int]
    print_color: Tuple[int, int, int]
    has_print: bool          # a chest print: only seen from the front
    skirt: bool = False      # a skirt or dress over the thighs (its own colour: ``trousers``)

    @classmethod
    def random(cls, rng):
        skin = SKIN_TONES[int(rng.integers(len(SKIN_TONES)))]
        skin = tuple(int(np.clip(c + rng.integers(-12, 13), 0, 255)) for c in skin)
        shirt = _rand_color(rng)
        return cls(
            skin=skin,
            hair=HAIR[int(rng.integers(len(HAIR)))],
            hair_style=str(rng.choice(["short", "short", "long", "bald"], p=[0.45, 0.1, 0.35, 0.1])),
            shirt=shirt,
            stripes=_rand_color(rng),
            n_stripes=int(rng.choice([0, 0, 0, 2, 3, 4, 6])),
            long_sleeves=bool(rng.random() < 0.6),
            trousers=_rand_color(rng, 10, 200),
            long_trousers=bool(rng.random() < 0.8),
            shoes=_rand_color(rng, 5, 120),
            print_color=_rand_color(rng),
            has_print=bool(rng.random() < 0.5),
            skirt=bool(rng.random() < 0.15),
        )


class Canvas:
    """An image and its label image, drawn together with sub-pixel coordinates."""

    def __init__(self, image, labels):
        self.image = image
        self.labels = labels
        self.cv2 = deps.load("cv2", "synthetic rendering")

    @staticmethod
    def fix(p):
        return np.round(np.asarray(p, dtype=np.float64) * ONE).astype(np.int32)

    @staticmethod
    def pt(p):
        """One point as fixed-point ints (faster than ``fix`` for single points)."""
        x, y = p
        return (int(floor(x * ONE + 0.5)), int(floor(y * ONE + 0.5)))

    def poly(self, pts, color, label=0, outline=0):
        cv2 = self.cv2
        q = self.fix(pts)
        cv2.fillConvexPoly(self.image, q, color, cv2.LINE_8, SHIFT)
        cv2.fillConvexPoly(self.labels, q, label, cv2.LINE_8, SHIFT)
        if outline >= 1:
            t = int(round(outline * 2))
            cv2.polylines(self.image, [q], True, color, t, cv2.LINE_8, SHIFT)
            cv2.polylines(self.labels, [q], True, label, t, cv2.LINE_8, SHIFT)

    def seg(self, p0, p1, radius, color, label=0):
        cv2 = self.cv2
        a, b = self.pt(p0), self.pt(p1)
        t = max(1, int(2 * radius + 0.5))
        cv2.line(self.image, a, b, color, t, cv2.LINE_8, SHIFT)
        if label is not None:
            cv2.line(self.labels, a, b, label, t, cv2.LINE_8, SHIFT)

    def disc(self, c, r, color, label=0):
        cv2 = self.cv2
        cc = self.pt(c)
        rr = max(1, int(r * ONE + 0.5))
        cv2.circle(self.image, cc, rr, color, -1, cv2.LINE_8, SHIFT)
        if label is not None:
            cv2.circle(self.labels, cc, rr, label, -1, cv2.LINE_8, SHIFT)

    def ellipse(self, c, a, b, angle_deg, color, label=0):
        cv2 = self.cv2
        cc = self.pt(c)
        ax = (max(1, int(a * ONE + 0.5)), max(1, int(b * ONE + 0.5)))
        cv2.ellipse(self.image, cc, ax, angle_deg, 0, 360, color, -1, cv2.LINE_8, SHIFT)
        if label is not None:
            cv2.ellipse(self.labels, cc, ax, angle_deg, 0, 360, label, -1, cv2.LINE_8, SHIFT)


def _shade(color, k):
    return (min(255, int(color[0] * k)), min(255, int(color[1] * k)), min(255, int(color[2] * k)))


def _lerp(a, b, t):
    return a + (b - a) * t


class PersonView:
    """A posed body seen by the camera: 2D points, depths and what is needed to draw and label it."""

    def __init__(self, camera, body, look, pts3d, index, light=1.0):
        self.camera = camera
        self.body = body
        self.look = look
        self.index = index
        self.light = light
        n = X["head_up"]
        pc = camera.to_camera(pts3d[:n])
        self.z = pc[:, 2]
        self.uv = camera.project_camera(pc)
        self.dirs = pts3d[n:] @ camera.R.T  # head up, forward, left in camera coordinates
        self.depth = float(np.mean(self.z[[X["pelvis"], X["l_chest"], X["r_chest"]]]))
        self.visible_ok = bool((self.z > 0.3).all())
        # face features: which way they look (positive = towards the camera)
        self.face_facing = face_facing(self.dirs)

    def scale(self, i):
        return self.camera.focal / max(self.z[i], 0.2)

    def parts(self):
        """(depth, kind, payload) drawables of this person, to be sorted far to near."""
        z = self.z
        out = []
        zt = float(np.mean(z[[X["l_chest"], X["r_chest"], X["l_waist"], X["r_waist"]]]))
        out.append((zt, "torso"))
        out.append((float((z[KP["neck"]] + z[X["head"]]) / 2) + 0.01, "neck"))
        out.append((float(z[X["head"]]) - 0.02, "head"))
        for s in ("l", "r"):
            out.append((float((z[KP[s + "_shoulder"]] + z[KP[s + "_elbow"]]) / 2), s + "_upper_arm"))
            out.append((float((z[KP[s + "_elbow"]] + z[KP[s + "_wrist"]]) / 2), s + "_forearm"))
            out.append((float((z[KP[s + "_wrist"]] + z[X[s + "_hand"]]) / 2) - 0.005, s + "_hand"))
            out.append((float((z[KP[s + "_hip"]] + z[KP[s + "_knee"]]) / 2), s + "_thigh"))
            out.append((float((z[KP[s + "_knee"]] + z[KP[s + "_ankle"]]) / 2), s + "_shin"))
            out.append((float((z[X[s + "_heel"]] + z[X[s + "_toe"]]) / 2) - 0.005, s + "_foot"))
        if self.look.skirt:
            ids = [KP["l_hip"], KP["r_hip"], KP["l_knee"], KP["r_knee"]]
            out.append((float(z[ids].min()) - 0.01, "skirt"))
        return [(d, self, name) for d, name in out]

    def draw_part(self, cv, name, zt):
        lk = self.look
        h = self.body.height
        g = self.body.girth
        uv, z = self.uv, self.z
        label = self.index * 16 + PART.get(name, PART["torso"])
        # far-side parts darker, near ones lighter: shading that separates overlapping limbs
        if name == "head":
            self._draw_head(cv, label)
            return
        if name == "skirt":  # drawn over the thighs, labelled as torso so the hips stay "visible"
            t = 0.72
            pts = np.array([uv[X["l_waist"]], uv[X["r_waist"]],
                            _lerp(uv[KP["r_hip"]], uv[KP["r_knee"]], t), _lerp(uv[KP["l_hip"]], uv[KP["l_knee"]], t)])
            r = 0.05 * h * g * self.scale(X["pelvis"])
            hull = cv.cv2.convexHull(pts.astype(np.float32)).reshape(-1, 2)
            cv.poly(hull, _shade(lk.trousers, self.light), self.index * 16 + PART["torso"], outline=r)
            return
        if name == "torso":
            ids = [X["l_chest"], X["r_chest"], X["r_waist"], X["l_waist"]]
            quad = uv[ids]
            r = 0.05 * h * g * self.scale(X["pelvis"])
            col = _shade(lk.shirt, self.light)
            hull = cv.cv2.convexHull(quad.astype(np.float32)).reshape(-1, 2)
            cv.poly(hull, col, label, outline=r)
            self._torso_details(cv, quad, r)
            return
        s = name[0]
        part = name[2:]
        if part == "upper_arm":
            a, b, rad = KP[s + "_shoulder"], KP[s + "_elbow"], 0.034
            col = lk.shirt
        elif part == "forearm":
            a, b, rad = KP[s + "_elbow"], KP[s + "_wrist"], 0.028
            col = lk.shirt if lk.long_sleeves else lk.skin
        elif part == "hand":
            a, b, rad = KP[s + "_wrist"], X[s + "_hand"], 0.024
            col = lk.skin
        elif part == "thigh":
            a, b, rad = KP[s + "_hip"], KP[s + "_knee"], 0.047
            col = lk.trousers
        elif part == "shin":
            a, b, rad = KP[s + "_knee"], KP[s + "_ankle"], 0.034
            col = lk.trousers if lk.long_trousers else lk.skin
        elif part == "foot":
            a, b, rad = X[s + "_heel"], X[s + "_toe"], 0.028
            col = lk.shoes
        else:  # neck
            a, b, rad = KP["neck"], X["head"], 0.03
            col = lk.skin
        if part == "hand" or part == "foot":
            g = 1.0 + (g - 1.0) * 0.3
        dz = (z[a] + z[b]) / 2 - zt
        k = self.light * min(1.12, max(0.72, 1.0 - 1.5 * float(dz)))
        ra = rad * h * g * self.scale(a)
        rb = rad * h * g * self.scale(b)
        col = _shade(col, k)
        if part == "hand":
            cv.seg(uv[a], _lerp(uv[a], uv[b], 0.6), (ra + rb) / 2, col, label)
            cv.disc(_lerp(uv[a], uv[b], 0.65), rb * 1.15, col, label)
        elif part == "thigh" and abs(ra - rb) > 1.0:
            cv.seg(uv[a], _lerp(uv[a], uv[b], 0.5), ra, col, label)
            cv.seg(_lerp(uv[a], uv[b], 0.5), uv[b], (ra + rb) / 2 * 0.9, col, label)
        else:
            cv.seg(uv[a], uv[b], (ra + rb) / 2, col, label)
        if part == "shin" and lk.long_trousers is False:
            cv.seg(uv[a], _lerp(uv[a], uv[b], 0.12), (ra + rb) / 2, _shade(lk.trousers, k), label)

    def _torso_details(self, cv, quad, r):
        lk = self.look
        if lk.n_stripes:
            t = max(1.0, r * 1.2 / lk.n_stripes)
            col = _shade(lk.stripes, self.light)
            for i in range(lk.n_stripes):
                f = (i + 0.5) / lk.n_stripes * 0.9
                a = _lerp(quad[0], quad[3], f)
                b = _lerp(quad[1], quad[2], f)
                cv.seg(a, b, t / 2, col, None)
        # the front of the chest faces the camera when the person's left is on the image right
        chest_left = quad[0] - quad[1]
        spine = (quad[0] + quad[1]) / 2 - (quad[2] + quad[3]) / 2
        cross = chest_left[0] * spine[1] - chest_left[1] * spine[0]
        width = np.hypot(*chest_left)
        if cross < 0 and width > 4:  # front view: neckline and a chest print
            top = (quad[0] + quad[1]) / 2
            down = -spine / (np.hypot(*spine) + 1e-6)
            sk = _shade(self.look.skin, self.light)
            tri = np.array([top + chest_left * 0.18, top - chest_left * 0.18, top + down * width * 0.35])
            cv.poly(tri, sk, self.index * 16 + PART["torso"])
            if lk.has_print:
                c = top + down * width * 0.75 + chest_left * 0.15
                cv.disc(c, width * 0.13, _shade(lk.print_color, self.light), None)

    def _draw_head(self, cv, label):
        lk = self.look
        hs = self.body.height * self.body.head
        sc = self.scale(X["head"])
        c = self.uv[X["head"]]
        up, fwd, left = self.dirs
        rx = HEAD_RX * hs * sc
        ry = HEAD_RY * hs * sc
        l2 = float(np.hypot(up[0], up[1]))
        ang = float(np.degrees(np.arctan2(up[1], up[0])))
        a_up = rx + (ry - rx) * min(1.0, l2)
        facing = -fwd[2]
        skin = _shade(lk.skin, self.light)
        hair = _shade(lk.hair, self.light)

        def off(v, k):  # 2D offset of a head-frame direction scaled by k * head size
            return np.array([v[0], v[1]]) * k * hs * sc

        hair_c = c + off(up, 0.016) - off(fwd, 0.02)
        if lk.hair_style == "long" and facing > -0.2:
            cv.ellipse(hair_c - off(up, 0.05) - off(fwd, 0.02), a_up * 1.05, rx * 1.05, ang, hair, label)
        if lk.hair_style != "bald" and facing >= 0:
            cv.ellipse(hair_c, a_up * 1.04, rx * 1.06, ang, hair, label)
        face_c = c + off(fwd, 0.008) - off(up, 0.006) if facing >= 0 else c
        cv.ellipse(face_c, a_up * 0.95, rx * 0.95, ang, skin, label)
        if lk.hair_style != "bald" and facing < 0:
            cv.ellipse(hair_c, a_up * 1.0, rx * 1.02, ang, hair, label)
            if lk.hair_style == "long":
                cv.ellipse(hair_c - off(up, 0.05), a_up * 1.0, rx * 1.0, ang, hair, label)
        ff = self.face_facing
        uv = self.uv
        ear_col = _shade(lk.skin, self.light * 0.85)
        for e in ("l_ear", "r_ear"):
            if ff[e] > FACE_THRESHOLDS[e]:
                cv.disc(uv[KP[e]], max(0.8, 0.017 * hs * sc), ear_col, label)
        eye_r = max(0.6, 0.0085 * hs * sc)
        for e in ("l_eye", "r_eye"):
            if ff[e] > FACE_THRESHOLDS[e]:
                if eye_r > 2.2:
                    cv.disc(uv[KP[e]], eye_r * 1.5, (235, 235, 235), label)
                cv.disc(uv[KP[e]], eye_r, (30, 25, 20), label)
        if ff["nose"] > FACE_THRESHOLDS["nose"]:
            cv.disc(uv[KP["nose"]], max(0.7, 0.013 * hs * sc), _shade(lk.skin, self.light * 0.78), label)
            if ff["nose"] > 0.3 and sc * hs * 0.03 > 1.5:  # mouth below the nose
                m = uv[KP["nose"]] - off(up, 0.028)
                d = off(left, 0.014)
                cv.seg(m - d, m + d, max(0.5, 0.004 * hs * sc), (60, 60, 150), None)

    def face_labelled(self, name):
        return self.face_facing[name] > FACE_THRESHOLDS[name]


# box corners as sign patterns along (x, y, z); faces as corner indices, with their normal axis/sign
_SIGNS = np.array([[sx, sy, sz] for sx in (-1, 1) for sy in (-1, 1) for sz in (-1, 1)], dtype=np.float64)
_FACES = (  # (axis, sign, corners in order around the face, brightness)
    (1, 1, (2, 3, 7, 6), 1.12), (1, -1, (0, 1, 5, 4), 0.6),
    (2, 1, (1, 3, 7, 5), 0.92), (2, -1, (0, 2, 6, 4), 0.8),
    (0, 1, (4, 5, 7, 6), 0.85), (0, -1, (0, 1, 3, 2), 0.75),
)


def draw_box(cv, camera, center, size, yaw, color, label=0, light=1.0):
    """A solid box on its visible faces, shaded by face orientation. size = (width x, height y, depth z)."""
    half = np.asarray(size, dtype=np.float64) / 2.0
    ctr = np.asarray(center, dtype=np.float64)
    if half[0] <= 0.03 and half[2] <= 0.03:  # a thin vertical leg or pole: a thick line is enough
        ends, z = camera.project(np.array([ctr - [0.0, half[1], 0.0], ctr + [0.0, half[1], 0.0]]))
        if (z > 0.15).all():
            r = max(half[0], half[2]) * camera.focal / float(z.mean())
            cv.seg(ends[0], ends[1], r, _shade(color, 0.85 * light), label)
            return
    c, s = np.cos(yaw), np.sin(yaw)
    axes = np.array([[c, 0.0, -s], [0.0, 1.0, 0.0], [s, 0.0, c]])
    corners = ctr + (_SIGNS * half) @ axes
    rel = camera.C - ctr
    pc = camera.to_camera(corners)
    direct = bool((pc[:, 2] >= 0.15).all())
    uv = camera.project_camera(pc) if direct else None
    for axis, sign, idx, k in _FACES:
        if sign * float(np.dot(axes[axis], rel)) <= half[axis]:
            continue  # the camera is behind this face's plane
        idx = list(idx)
        if direct:
            pts = uv[idx]
        else:
            pts = camera.project_polygon(corners[idx])
            if pts is None:
                continue
        cv.poly(pts, _shade(color, k * light), label)
