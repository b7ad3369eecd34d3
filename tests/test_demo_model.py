"""The bundled demo model: TAO deployable contract, and it finds the people in unseen synthetic scenes."""
import os

import numpy as np
import pytest

from edgepose.models import bundled_model
from edgepose.profiles import load_profile

MODEL, PROFILE = bundled_model()
pytestmark = pytest.mark.skipif(MODEL is None, reason="bundled demo model edgepose/models/edgepose-demo.onnx not built")

TEST_SEED_BASE = 990_000_000  # tools/train_demo.py: disjoint from training and validation seeds
MIN_RECALL = 0.80             # people (>= 5 labelled keypoints) found in unseen scenes (see _box_recall); measured 0.87 (34 of 39)
MIN_AP50 = 0.50               # OKS AP50 floor on the same scenes; measured 0.62 (AP 0.32)


def test_profile_is_tao_bpnet_with_own_size_and_thresholds():
    demo, tao = load_profile("edgepose-demo"), load_profile("tao-bpnet")
    a, b = demo.model_dump(), tao.model_dump()
    for d in (a, b):
        for key in ("name", "description", "decode"):
            d.pop(key)
        d["input"].pop("size")
    assert a == b  # same input/output contract and limbs: the tao-bpnet code path, unchanged
    assert PROFILE == "edgepose-demo"


def test_model_has_the_tao_deployable_contract():
    from edgepose.profiles.match import match_profile, read_io

    ins, outs = read_io(MODEL)
    prof = load_profile("edgepose-demo")
    assert match_profile(ins, outs, prof) == [] and match_profile(ins, outs, load_profile("tao-bpnet")) == []
    h, w = prof.input.size
    (name, shape), = ins
    assert name == "input_1:0" and isinstance(shape[0], str) and tuple(shape[1:]) == (h, w, 3)  # NHWC, dynamic N
    got = dict(outs)
    assert tuple(got["heatmap_out/BiasAdd:0"][1:]) == (h // 8, w // 8, 19)
    assert tuple(got["conv2d_transpose_1/BiasAdd:0"][1:]) == (h // 2, w // 2, 38)
    assert os.path.getsize(MODEL) < 6e6


def test_batch_and_nearest_neighbour_paf():
    from edgepose.backends import open_backend

    prof = load_profile("edgepose-demo")
    h, w = prof.input.size
    x = np.random.default_rng(0).uniform(-0.5, 0.5, (2, h, w, 3)).astype(np.float32)
    with open_backend(MODEL, profile=prof, threads=2) as be:
        out = be.infer({"input_1:0": x})
    heat, paf = out["heatmap_out/BiasAdd:0"], out["conv2d_transpose_1/BiasAdd:0"]
    assert heat.shape == (2, h // 8, w // 8, 19) and paf.shape == (2, h // 2, w // 2, 38)
    blocks = paf.reshape(2, h // 8, 4, w // 8, 4, 38)
    np.testing.assert_allclose(blocks, np.broadcast_to(blocks[:, :, :1, :, :1], blocks.shape), atol=1e-6)


def _box_recall(coco, dets, min_kps=5, inside=0.6):
    """Fraction of GT people (>= min_kps labelled keypoints) with a detection whose keypoints lie mostly
    (>= ``inside``) within the GT box enlarged by 10%: "the person was found", whatever the precision."""
    found = total = 0
    by_image = {}
    for d in dets:
        by_image.setdefault(d.image_id, []).append(d.keypoints)
    for iid, people in coco.gts.items():
        for g in people:
            if g["num_keypoints"] < min_kps:
                continue
            total += 1
            x, y, w, h = g["bbox"]
            x0, y0, x1, y1 = x - 0.1 * w, y - 0.1 * h, x + 1.1 * w, y + 1.1 * h
            for k in by_image.get(iid, []):
                ok = np.isfinite(k[:, 0])
                inb = (k[ok, 0] >= x0) & (k[ok, 0] <= x1) & (k[ok, 1] >= y0) & (k[ok, 1] <= y1)
                if ok.sum() and inb.mean() >= inside:
                    found += 1
                    break
    return found / max(1, total), total


def test_finds_people_in_unseen_scenes():
    from edgepose import synth
    from edgepose.backends import open_backend
    from edgepose.decode import PoseDecoder
    from edgepose.evaluate import CocoKeypoints, Detection, coco_from_scenes, evaluate
    from edgepose.preprocess import preprocess

    prof = load_profile("edgepose-demo")
    scenes = [synth.render_scene([TEST_SEED_BASE, i], size=(288, 384)) for i in range(24)]
    coco = CocoKeypoints(coco_from_scenes(scenes))
    dec = PoseDecoder(prof)
    dets = []
    with open_backend(MODEL, profile=prof, threads=2) as be:
        for iid, scene in zip(sorted(coco.images), scenes):
            x, tf = preprocess(scene.image, prof)
            for p in dec.decode(be.infer({"input_1:0": x})):
                kps = tf.to_source(p.keypoints)
                kps[p.keypoints[:, 2] <= 0, :2] = np.nan
                dets.append(Detection(iid, kps, p.score))
    recall, people = _box_recall(coco, dets)
    m = evaluate(coco, dets)
    assert people >= 20
    assert recall >= MIN_RECALL, (recall, m)
    assert m["AP50"] >= MIN_AP50, m


def test_facts_describe_this_model():
    """edgepose-demo.json belongs to the bundled ONNX (its sha256), and its training history adds up."""
    import hashlib
    import json

    with open(os.path.splitext(MODEL)[0] + ".json") as f:
        facts = json.load(f)
    with open(MODEL, "rb") as f:
        assert facts["onnx_sha256"] == hashlib.sha256(f.read()).hexdigest()
    runs = facts["runs"]
    assert runs and all(r.get("command") for r in runs)
    assert facts["samples_seen_total"] == sum(r.get("samples", 0) for r in runs)
    assert abs(facts["training_time_s_total"] - sum(r.get("wall_s", 0) for r in runs)) < 1.0
