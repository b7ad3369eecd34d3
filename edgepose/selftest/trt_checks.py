"""The TensorRT items of the device self-test: engines of the bundled model built and run on this device,
compared with golden outputs made by ONNX Runtime (``selftest/golden.py``). Needs numpy, tensorrt and
pycuda or cuda-python only (no onnx, ONNX Runtime, pydantic, PyYAML or OpenCV: the build reads the model
through TensorRT's parser, the decoder gets the profile from the golden file).

Items (engines built into a temporary folder, removed at the end):

- ``golden``: the reference data belongs to the bundled model (sha256);
- ``engine.fp32``: TF32 off, dynamic batch 1..4; maps against the goldens (tight: TF32 would not pass),
  people decoded against the goldens' people;
- ``engine.fp16``, ``engine.int8-calib`` (entropy calibration on the committed images; 8.x/10.x),
  ``engine.int8-qdq`` (the committed Q/DQ model; every version): people and map differences;
- ``engine.uint8`` (the committed uint8-input model, ``edgepose-demo-u8``: raw BGR frames in, normalised by
  the graph; fp32, tight limit) and ``engine.uint8-int8-calib`` (its entropy calibration fed uint8 frames;
  8.x/10.x): the engine's input is uint8, 4x fewer bytes host->device;
- ``batch.dynamic``: the fp32 engine at batch 1, 2, 3, 4 gives each image what batch 1 gives;
- ``context.cross-thread``: activate on one thread, infer, deactivate on another, x5; free memory must
  not drift;
- ``backends.two``: two engines active at once, used from two threads at the same time;
- ``batch.fixed``: an engine with a fixed batch of 2 takes 1 frame (padded) and 2;
- ``dla``: an fp16 engine on DLA core 0 (GPU fallback), with the layer count on the DLA (SKIP without DLA);
- ``latency.p50``: median of one frame's H2D + execute + D2H per engine (``infer`` with a lent input).
"""
import os
import shutil
import statistics
import tempfile
import threading
import time

import numpy as np

from ..errors import DependencyError
from . import Skip, golden

MIB = 1 << 20
ROUNDS = 5
REPS = 50          # latency.p50 runs per engine
LOAD_RUNS = 20     # backends.two runs per thread
DRIFT_LIMIT = 32 * MIB
TOL = {"fp32": 2e-3, "fp16": 5e-2}          # max abs difference of the maps (heatmap, PAF) from ONNX Runtime's
PX = {"fp32": 1.0, "fp16": 2.0, "int8": 8.0}  # keypoint distance to the goldens' people, network pixels


def run_all(report, libs, index=0, only=None):
    """Every item (or the ``only`` ones: names as printed) on device ``index`` with the first usable library."""
    from ..engine.trt import Capabilities, has_cuda_device, import_trt

    try:
        trt = import_trt()
    except DependencyError as e:
        report.add("SKIP", "tensorrt", "library", "not installed (%s)" % str(e).split(": ", 1)[0])
        return
    if not has_cuda_device():
        report.add("SKIP", "tensorrt", "library", "no NVIDIA GPU/driver on this machine")
        return
    gpu = _gpu(report, libs, index)
    if gpu is None:
        return
    caps = Capabilities.of(trt)
    reason = golden.stale_reason()
    if reason:
        report.add("FAIL", "tensorrt", "golden", reason)
        return
    data = golden.load()
    report.add("PASS", "tensorrt", "golden", "TensorRT %s (%s path) on %s; reference: %d images, %s people"
               % (trt.__version__, caps.path, gpu.describe(), len(data["images"]), data["people"].tolist()))
    checks = EngineChecks(trt, caps, gpu, data)
    try:
        for item, fn in (("engine.fp32", checks.fp32), ("engine.fp16", checks.fp16),
                         ("engine.int8-calib", checks.int8_calib), ("engine.int8-qdq", checks.int8_qdq),
                         ("engine.uint8", checks.uint8), ("engine.uint8-int8-calib", checks.uint8_int8_calib),
                         ("batch.dynamic", checks.dynamic_batch), ("context.cross-thread", checks.cross_thread),
                         ("backends.two", checks.two_backends), ("batch.fixed", checks.fixed_batch),
                         ("dla", checks.dla), ("latency.p50", checks.latency)):
            if only is None or item in only:
                report.run("tensorrt", item, fn)
    finally:
        checks.close()


def _gpu(report, libs, index):
    from ..backends.cudalib import load_cuda
    from ..backends.gpubuffers import GpuDevice

    errors = []
    for name in libs:
        try:
            return GpuDevice.get(load_cuda(name), index)
        except Exception as e:
            errors.append("%s: %s" % (name, e))
    report.add("FAIL", "tensorrt", "library", "no CUDA library usable for the engines: %s" % "; ".join(errors))
    return None


class EngineChecks:
    """Engines built once and shared by the items (each item says when one it needs is missing)."""

    def __init__(self, trt, caps, gpu, data):
        self.trt, self.caps, self.gpu, self.data = trt, caps, gpu, data
        self.view = golden.ProfileView.from_json(data["profile_json"])
        self.decoder = golden.decoder(self.view)
        self.x = golden.network_input(data["images"], self.view)
        self.view_u8 = self.view.uint8_variant()
        self.x_u8 = golden.network_input(data["images"], self.view_u8)     # BGR uint8 frames
        self.work = tempfile.mkdtemp(prefix="edgepose-selftest-")
        self.engines = {}
        self.heat, self.paf = self.view.outputs.heatmap.name, self.view.outputs.paf.name

    def close(self):
        shutil.rmtree(self.work, ignore_errors=True)

    # -- helpers ---------------------------------------------------------------------------------
    def build(self, key, onnx, precision, batch, view=None, **options):
        from ..engine.builder import BuildOptions, build_engine

        out = os.path.join(self.work, key)
        os.makedirs(out, exist_ok=True)
        opts = BuildOptions(precision=precision, batch=batch, out_dir=out, workspace_mib=512,
                            argv=[os.path.basename(onnx), "--precision", precision, "--batch", str(batch)], **options)
        t0 = time.monotonic()
        path, side = build_engine(onnx, view or self.view, opts, trt=self.trt, gpu=self.gpu)
        self.engines[key] = path
        return path, side, time.monotonic() - t0

    def need(self, key):
        if key not in self.engines:
            raise Skip("the %s engine was not built (see its item above)" % key)
        return self.engines[key]

    def backend(self, path, **kw):
        from ..backends.tensorrt import TensorRTBackend

        return TensorRTBackend(path, cuda=self.gpu.lib.name, device=self.gpu.index, **kw)

    def run(self, path, batch_size=None, x=None, **kw):
        """Outputs of all golden images (in batches of ``batch_size``; default all at once); ``x``: the inputs
        (default: the float ones)."""
        x = self.x if x is None else x
        n = len(x)
        step = batch_size or n
        with self.backend(path, **kw) as be:
            parts = [be.infer({self.view.input.name: x[i:i + step]}) for i in range(0, n, step)]
        return {k: np.concatenate([p[k] for p in parts]) for k in (self.heat, self.paf)}

    def map_diffs(self, outs):
        heat = outs[self.heat]
        paf = outs[self.paf]
        f = paf.shape[1] // self.data["paf8"].shape[1]
        paf = paf[:, ::f, ::f] if f > 1 else paf
        return (float(np.max(np.abs(heat - self.data["heatmap"]))), float(np.max(np.abs(paf - self.data["paf8"]))))

    def people_check(self, outs, kind, decoder=None):
        """Every image decodes to the goldens' number of people, each within ``PX[kind]`` pixels."""
        worst, counts = 0.0, []
        decoder = decoder or self.decoder
        for i in range(len(self.x)):
            found = decoder.decode({self.heat: outs[self.heat][i:i + 1], self.paf: outs[self.paf][i:i + 1]})
            want_n = int(self.data["people"][i])
            counts.append(len(found))
            if len(found) != want_n:
                raise AssertionError("image %d: %d people decoded, the goldens have %d" % (i, len(found), want_n))
            got = np.stack([p.keypoints for p in found]) if found else np.zeros((0, 18, 3), np.float32)
            for g in self.data["keypoints"][i][:want_n]:
                d = np.linalg.norm(got[:, :, :2] - g[None, :, :2], axis=2)          # (people, 18)
                both = ~np.isnan(d)
                mean = np.where(both.any(axis=1), np.nanmean(np.where(both, d, np.nan), axis=1), np.inf)
                worst = max(worst, float(np.min(mean)))
        if worst > PX[kind]:
            raise AssertionError("a person's keypoints are %.1f px from the goldens' (limit %.1f)" % (worst, PX[kind]))
        return "people %s as the goldens, keypoints within %.2f px" % (counts, worst)

    def engine_item(self, key, onnx, precision, batch, kind, tol=None, batch_size=None, uint8=False, **options):
        """Build, run the golden images, compare maps and people. ``uint8``: the uint8-input model (its view,
        BGR uint8 frames in; the engine's input must be uint8)."""
        view, x = (self.view_u8, self.x_u8) if uint8 else (self.view, self.x)
        path, side, seconds = self.build(key, onnx, precision, batch, view=view, **options)
        outs = self.run(path, batch_size=batch_size, x=x)
        dh, dp = self.map_diffs(outs)
        people = self.people_check(outs, kind, golden.decoder(view) if uint8 else None)
        detail = "built in %.0f s (flags %s); max |diff| heatmap %.2g, PAF %.2g; %s" % (
            seconds, side.get("builder_flags"), dh, dp, people)
        if uint8:
            with self.backend(path) as be:
                dtype, h2d = np.dtype(be.inputs[0].dtype), be.h2d_bytes(1)
            if dtype != np.uint8:
                raise AssertionError("the engine's input is %s, not uint8" % dtype.name)
            detail += "; input uint8, %.0f KB host->device per frame" % (h2d / 1e3)
        if tol is not None and max(dh, dp) > tol:
            raise AssertionError(detail + " (map limit %.0e)" % tol)
        return detail

    # -- items -----------------------------------------------------------------------------------
    def fp32(self):
        return self.engine_item("fp32", golden.bundled_model_path(), "fp32", "dynamic:1,2,4", "fp32", TOL["fp32"])

    def fp16(self):
        if self.caps.strongly_typed:
            raise Skip("TensorRT %s builds precision from the ONNX: an fp16 engine needs an fp16 ONNX "
                       "(`edgepose prepare --fp16`), not shipped with the self-test" % self.trt.__version__)
        return self.engine_item("fp16", golden.bundled_model_path(), "fp16", "dynamic:1,2,4", "fp16", TOL["fp16"])

    def int8_calib(self):
        if not self.caps.implicit_int8:
            raise Skip("TensorRT %s has no implicit INT8 calibration (engine.int8-qdq is its INT8 route)"
                       % self.trt.__version__)
        calib = golden.ArrayCalibrationSet(self.data["calib"], self.view, batch_size=2)
        return self.engine_item("int8-calib", golden.bundled_model_path(), "int8", "dynamic:1,2,4", "int8",
                                calib_set=calib)

    def int8_qdq(self):
        return self.engine_item("int8-qdq", golden.QDQ, "int8", None, "int8", batch_size=1)

    def _uint8_capable(self):
        if not self.caps.uint8_input:
            raise Skip("TensorRT %s has no uint8 network inputs (8.5.1+)" % self.trt.__version__)

    def uint8(self):
        self._uint8_capable()
        return self.engine_item("uint8", golden.U8, "fp32", "dynamic:1,2,4", "fp32", TOL["fp32"], uint8=True)

    def uint8_int8_calib(self):
        self._uint8_capable()
        if not self.caps.implicit_int8:
            raise Skip("TensorRT %s has no implicit INT8 calibration" % self.trt.__version__)
        calib = golden.ArrayCalibrationSet(self.data["calib"], self.view_u8, batch_size=2)
        return self.engine_item("uint8-int8-calib", golden.U8, "int8", "dynamic:1,2,4", "int8", uint8=True,
                                calib_set=calib)

    def dynamic_batch(self):
        path = self.need("fp32")
        name = self.view.input.name
        with self.backend(path) as be:
            if be.batch_range != (1, 4):
                raise AssertionError("batch range %s, built for 1..4" % (be.batch_range,))
            one = [be.infer({name: self.x[i:i + 1]}) for i in range(len(self.x))]
            worst = 0.0
            for n in (1, 2, 3, 4):
                idx = [i % len(self.x) for i in range(n)]
                out = be.infer({name: self.x[idx]})
                for j, i in enumerate(idx):
                    for k in (self.heat, self.paf):
                        worst = max(worst, float(np.max(np.abs(out[k][j] - one[i][k][0]))))
        if worst > 1e-4:
            raise AssertionError("an image's outputs in a batch differ from batch 1 by %.2g" % worst)
        return "batches 1, 2, 3, 4: every image as at batch 1 (max |diff| %.2g)" % worst

    def cross_thread(self):
        path = self.engines.get("fp16") or self.need("fp32")
        name = self.view.input.name

        def in_thread(fn):
            box = {}
            t = threading.Thread(target=lambda: box.update(v=_safe(fn)))
            t.start()
            t.join()
            if isinstance(box.get("v"), Exception):
                raise box["v"]
            return box.get("v")

        be = self.backend(path)
        in_thread(be.activate)
        in_thread(be.deactivate)
        base = self.gpu.mem_get_info()[0]
        drifts = []
        for _ in range(ROUNDS):
            be = self.backend(path)
            in_thread(lambda: (be.activate(), be.infer({name: self.x[:1]})))
            in_thread(be.deactivate)
            drifts.append(base - self.gpu.mem_get_info()[0])
        detail = "%d rounds (activate + infer on one thread, deactivate on another); free-memory drift %s MiB" % (
            ROUNDS, ", ".join("%.1f" % (d / MIB) for d in drifts))
        if max(drifts) > DRIFT_LIMIT:
            raise AssertionError(detail + " (limit %.0f)" % (DRIFT_LIMIT / MIB))
        return detail

    def two_backends(self):
        paths = [self.need("fp32"), self.engines.get("fp16") or self.need("fp32")]
        name = self.view.input.name
        bes = [self.backend(p).activate() for p in paths]
        try:
            refs = [be.infer({name: self.x}) for be in bes]
            start, errors = threading.Barrier(2), []

            def use(i):
                try:
                    start.wait()
                    for _ in range(LOAD_RUNS):
                        out = bes[i].infer({name: self.x})
                        d = max(float(np.max(np.abs(out[k] - refs[i][k]))) for k in (self.heat, self.paf))
                        if d > 1e-5:
                            raise AssertionError("engine %d gave other numbers under load (%.2g)" % (i, d))
                except Exception as e:
                    errors.append(e)

            threads = [threading.Thread(target=use, args=(i,)) for i in range(2)]
            for t in threads:
                t.start()
            for t in threads:
                t.join()
            if errors:
                raise errors[0]
        finally:
            for be in bes:
                be.deactivate()
        return "%s and %s active at once, 2 threads x %d runs each, same numbers as alone" % (
            os.path.basename(os.path.dirname(paths[0])), os.path.basename(os.path.dirname(paths[1])), LOAD_RUNS)

    def fixed_batch(self):
        path, _, _ = self.build("fixed2", golden.bundled_model_path(), "fp32", "2")
        name = self.view.input.name
        with self.backend(path) as be:
            if be.fixed_batch != 2:
                raise AssertionError("engine batch range %s, built fixed at 2" % (be.batch_range,))
            one = be.infer({name: self.x[:1]})
            two = be.infer({name: self.x[:2]})
        dh = float(np.max(np.abs(one[self.heat][0] - self.data["heatmap"][0])))
        d2 = float(np.max(np.abs(two[self.heat][1] - self.data["heatmap"][1])))
        if one[self.heat].shape[0] != 1 or max(dh, d2) > TOL["fp32"]:
            raise AssertionError("fixed batch 2: 1 frame -> %d outputs, max |diff| %.2g / %.2g"
                                 % (one[self.heat].shape[0], dh, d2))
        return "fixed batch 2: 1 frame (padded) and 2 frames match the goldens (max |diff| %.2g, %.2g)" % (dh, d2)

    def dla(self):
        from ..engine.trt import get_logger

        if not self.caps.dla:
            raise Skip("TensorRT %s has no DLA API" % self.trt.__version__)
        trt = self.trt
        with self.gpu.current():
            builder = trt.Builder(get_logger(trt))
            cores = builder.num_DLA_cores
        if not cores:
            raise Skip("no DLA core on this device (Jetson Xavier/Orin have them)")
        path, side, _ = self.build("dla0", golden.bundled_model_path(), "fp16", "1", dla_core=0, gpu_fallback=True)
        outs = self.run(path, batch_size=1)
        layers = side.get("dla_layers") or {}
        return "DLA core 0 of %d: %s of %s layers on the DLA; %s" % (
            cores, layers.get("dla"), layers.get("layers"), self.people_check(outs, "fp16"))

    def latency(self):
        reps = REPS
        name = self.view.input.name
        rows = []
        for key in ("fp32", "fp16", "int8-calib", "int8-qdq", "uint8", "uint8-int8-calib"):
            if key not in self.engines:
                continue
            src = self.x_u8 if key.startswith("uint8") else self.x
            with self.backend(self.engines[key]) as be:
                times = []
                warm = min(10, reps)
                for r in range(reps + warm):
                    x = be.input_array(1)
                    x[...] = src[:1]
                    t0 = time.perf_counter()
                    be.infer({name: x})
                    if r >= warm:
                        times.append(time.perf_counter() - t0)
                rows.append("%s %.3f ms" % (key, statistics.median(times) * 1e3))
                d2h = be.d2h_bytes(1)
        if not rows:
            raise Skip("no engine was built")
        return "p50 of H2D + execute + D2H, batch 1, %d reps: %s (%.0f KB device->host per frame)" % (
            reps, ", ".join(rows), d2h / 1e3)


def _safe(fn):
    try:
        return fn()
    except Exception as e:
        return e
