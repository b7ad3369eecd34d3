#!/usr/bin/env python3
"""Make the device self-test's reference data for the bundled model (one command, on any machine with
ONNX Runtime and OpenCV; no GPU):

    python tools/make_device_golden.py [--images 3] [--calib 6] [--seed 7100]

Writes ``edgepose/selftest/data/edgepose-demo.golden.npz``, ``edgepose-demo.qdq.onnx`` and ``edgepose-demo.u8.onnx`` (see
``edgepose/selftest/golden.py`` for what they hold). Run it again whenever the bundled model changes:
``tests/test_selftest_trt.py`` fails while they belong to another model.

Inputs are synthetic scenes (``edgepose.synth.render_scene``) rendered at the network size, so the
letterbox is the identity and the stored uint8 RGB images are the network input exactly. Golden
outputs come from ONNX Runtime (CPU) on the float32 model; the people decoded from them with the
profile's thresholds are stored too. The Q/DQ model is ``edgepose quantize`` (percentile, symmetric,
per-channel) over the calibration images. The uint8-input model is ``edgepose prepare --profile
edgepose-demo-u8 --batch dynamic:1,4,4``, checked against the float model on ONNX Runtime as it is written.
"""
import argparse
import json
import logging
import os
import shutil
import sys
import tempfile

import numpy as np

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
if ROOT not in sys.path:
    sys.path.insert(0, ROOT)

from edgepose import deps  # noqa: E402
from edgepose.atomic import atomic_open  # noqa: E402
from edgepose.models import bundled_model  # noqa: E402
from edgepose.profiles import load_profile  # noqa: E402
from edgepose.selftest import golden  # noqa: E402

MAX_PEOPLE = 8


def scenes(count, seed, size, min_people):
    """``count`` BGR scenes with at least ``min_people`` people, deterministic for ``seed``."""
    from edgepose.synth.scene import render_scene

    out, s = [], seed
    while len(out) < count:
        sc = render_scene(s, size=size, num_people=None if not min_people else min_people + len(out) % 2,
                          effects=False)
        s += 1
        if len(sc) >= min_people:
            out.append(sc.image)
    return out


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--images", type=int, default=3, help="golden images (default 3)")
    ap.add_argument("--calib", type=int, default=16, help="calibration images (default 16)")
    ap.add_argument("--seed", type=int, default=7100)
    ap.add_argument("--out-dir", default=golden.DATA)
    args = ap.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    cv2 = deps.load("cv2", "tools/make_device_golden.py")
    ort = deps.load("onnxruntime", "tools/make_device_golden.py")
    from edgepose.decode import PoseDecoder
    from edgepose.engine.quantize import quantize
    from edgepose.onnxprep import prepare
    from edgepose.preprocess import preprocess

    model, profile_name = bundled_model()
    profile = load_profile(profile_name)
    h, w = profile.input.size
    bgr = scenes(args.images, args.seed, (h, w), min_people=1)
    calib_bgr = scenes(args.calib, args.seed + 1000, (h, w), min_people=1)
    rgb = np.stack([cv2.cvtColor(im, cv2.COLOR_BGR2RGB) for im in bgr])
    calib = np.stack([cv2.cvtColor(im, cv2.COLOR_BGR2RGB) for im in calib_bgr])
    view = golden.ProfileView(profile.model_dump())
    x = golden.network_input(rgb, view)
    for i, im in enumerate(bgr):          # the stored images are exactly what preprocess gives
        ref, _ = preprocess(im, profile)
        if not np.array_equal(ref[0], x[i]):
            raise SystemExit("preprocess of scene %d differs from image * scale + offset: not an identity letterbox"
                             % i)
    sess = ort.InferenceSession(model, providers=["CPUExecutionProvider"])
    hname, pname = profile.outputs.heatmap.name, profile.outputs.paf.name
    heat, paf = sess.run([hname, pname], {profile.input.name: x})
    up = profile.outputs.heatmap.stride // profile.outputs.paf.stride
    paf8 = np.ascontiguousarray(paf[:, ::up, ::up, :])
    if not np.array_equal(np.repeat(np.repeat(paf8, up, axis=1), up, axis=2), paf):
        raise SystemExit("the model's PAF is not a nearest-neighbour x%d upsampling: store it whole" % up)
    dec = PoseDecoder(profile)
    counts, kps = [], []
    for i in range(len(bgr)):
        found = dec.decode({hname: heat[i:i + 1], pname: paf[i:i + 1]})
        n, k = golden.people_arrays(found, MAX_PEOPLE)
        counts.append(n)
        kps.append(k)
        logging.info("golden image %d: %d people decoded", i, n)
    if not all(counts):
        raise SystemExit("a golden image has no person decoded (%s): try another --seed" % counts)

    os.makedirs(args.out_dir, exist_ok=True)
    qdq_path = os.path.join(args.out_dir, os.path.basename(golden.QDQ))
    u8_path = os.path.join(args.out_dir, os.path.basename(golden.U8))
    work = tempfile.mkdtemp(prefix="edgepose-golden-")
    try:
        for i, im in enumerate(calib_bgr):
            cv2.imwrite(os.path.join(work, "calib_%02d.png" % i), im)
        tmp_qdq = os.path.join(work, "qdq.onnx")
        quantize(model, tmp_qdq, profile, work, method="percentile")
        shutil.copyfile(tmp_qdq, qdq_path + ".tmp")
        os.replace(qdq_path + ".tmp", qdq_path)
        rep = prepare(model, u8_path, "edgepose-demo-u8", batch="dynamic:1,4,4")
        logging.info("uint8-input model: max |diff| from the float model on ONNX Runtime %s", rep["max_abs_diff"])
    finally:
        shutil.rmtree(work, ignore_errors=True)

    made_with = {"command": "python tools/make_device_golden.py " + " ".join(argv if argv is not None else sys.argv[1:]),
                 "onnxruntime": ort.__version__, "numpy": np.__version__, "opencv": cv2.__version__}
    out = os.path.join(args.out_dir, os.path.basename(golden.GOLDEN))
    with atomic_open(out, "wb") as f:
        np.savez_compressed(
            f, model_sha256=np.array(golden.sha256_file(model)), images=rgb, heatmap=heat.astype(np.float32),
            paf8=paf8.astype(np.float32), people=np.array(counts, np.int32), keypoints=np.stack(kps),
            calib=calib, profile_json=np.array(json.dumps(profile.model_dump())),
            qdq_sha256=np.array(golden.sha256_file(qdq_path)), qdq_source_sha256=np.array(golden.sha256_file(model)),
            u8_sha256=np.array(golden.sha256_file(u8_path)), u8_source_sha256=np.array(golden.sha256_file(model)),
            made_with=np.array(json.dumps(made_with, sort_keys=True)))
    print("wrote %s (%.0f KB: %d golden images, %d calibration images, people %s), %s (%.0f KB) and %s (%.0f KB)"
          % (out, os.path.getsize(out) / 1e3, len(bgr), len(calib_bgr), counts, qdq_path,
             os.path.getsize(qdq_path) / 1e3, u8_path, os.path.getsize(u8_path) / 1e3))
    return 0


if __name__ == "__main__":
    sys.exit(main())
