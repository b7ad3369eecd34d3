"""Build a TensorRT engine from an ONNX model: the one place that drives ``trt.Builder``.

``build_engine(onnx_path, profile, BuildOptions(...))`` picks the path from the installed version
(``Capabilities``): 8.5/8.6/10.x set FP16/INT8 builder flags (INT8 from an entropy calibration over
``--calib`` images, or from a Q/DQ model), 11.x builds a strongly typed network whose precision comes
from the ONNX. A requested option that the installed TensorRT lacks is one ``EngineError``.
The engine and its JSON sidecar are written atomically under ``out_dir`` as
``<model>.<precision>.b<batch>.<H>x<W>.<device>.trt<version>.engine``.

Without the ``onnx`` Python package (a bare Jetson running the self-test) the model's inputs and
precision come from TensorRT's own ONNX parser instead (``model_facts``); ``profile`` may then be any
object with a profile's attributes (``edgepose.selftest.golden.ProfileView``) and ``calib_set`` an
already-made calibration set, so the build needs neither pydantic nor OpenCV.
"""
import datetime
import json
import logging
import os
import time
from dataclasses import dataclass, field
from typing import List, Optional, Tuple

from ..atomic import write_atomic
from ..errors import EngineError, UsageError
from ..onnxprep import BatchRange, parse_batch, sha256_file
from .buildprogress import build_progress
from .modelfacts import _default_gpu, model_facts, onnx_precision  # noqa: F401  (onnx_precision: re-exported)
from .sidecar import build_command, write_sidecar
from .trt import Capabilities, device_tag, get_logger, import_trt, jetson_model, parser_errors, version_string

log = logging.getLogger(__name__)

PRECISIONS = ("fp32", "fp16", "int8", "best")


@dataclass
class BuildOptions:
    precision: str = "fp16"
    batch: Optional[BatchRange] = None       # None: from the ONNX (1 when dynamic)
    size: Optional[Tuple[int, int]] = None   # only to check the ONNX (use `edgepose prepare` to change it)
    calib: Optional[str] = None
    calib_cache: Optional[str] = None
    calib_count: Optional[int] = None
    workspace_mib: int = 1024
    dla_core: Optional[int] = None
    gpu_fallback: bool = False
    timing_cache: Optional[str] = None
    calib_set: Optional[object] = None     # an already-made CalibrationSet-like object instead of --calib DIR
    out_dir: str = "engines"
    argv: List[str] = field(default_factory=list)  # the build arguments, recorded for the rebuild hint


def plan_precision(caps, requested, onnx_kind, have_calib):
    """``(flags, use_calibrator)``: builder flags ("FP16", "INT8") for this path, or one EngineError."""
    if requested not in PRECISIONS:
        raise UsageError("--precision %r: choose one of %s" % (requested, ", ".join(PRECISIONS)))
    v = ".".join(map(str, caps.version))
    if caps.strongly_typed:
        if have_calib:
            raise EngineError("TensorRT %s has no implicit INT8 calibration (--calib/--calib-cache): make a Q/DQ model "
                              "with `edgepose quantize MODEL.onnx --profile P --calib DIR --out MODEL.int8.onnx` "
                              "and build that" % v)
        want = {"fp32": "fp32", "fp16": "fp16", "int8": "int8"}.get(requested, onnx_kind)
        if want != onnx_kind:
            fix = ("`edgepose prepare MODEL.onnx --profile P --fp16 --out MODEL.fp16.onnx`" if want == "fp16" else
                   "`edgepose quantize MODEL.onnx --profile P --calib DIR --out MODEL.int8.onnx`" if want == "int8"
                   else "the float32 ONNX")
            raise EngineError("TensorRT %s builds strongly typed networks whose precision comes from the ONNX: "
                              "this model is %s, --precision %s needs %s" % (v, onnx_kind, requested, fix))
        return [], False
    flags = []
    if requested in ("fp16", "best") or onnx_kind == "fp16":
        flags.append("FP16")
    if requested in ("int8", "best") or onnx_kind == "int8":
        if onnx_kind == "int8":
            flags.append("INT8")
        elif have_calib:
            if not caps.implicit_int8:
                raise EngineError("TensorRT %s has no IInt8EntropyCalibrator2: use `edgepose quantize` (Q/DQ model)" % v)
            flags.append("INT8")
            return flags, True
        elif requested == "int8":
            raise EngineError("--precision int8 needs calibration images (--calib DIR, or --calib-cache FILE) or a "
                              "Q/DQ model from `edgepose quantize`")
    if flags and not caps.builder_precision_flags:
        raise EngineError("TensorRT %s has no BuilderFlag.%s" % (v, flags[0]))
    return flags, False


def engine_file_name(model_path, precision, batch, size, tag, version):
    stem = os.path.splitext(os.path.basename(model_path))[0]
    b = "%d-%d" % (batch.min, batch.max) if batch.dynamic else "%d" % batch.min
    return "%s.%s.b%s.%dx%d.%s.trt%s.engine" % (stem, precision, b, size[0], size[1], tag, version)


def _input_batch(shapes, profile):
    """``(batch dim (int or str), (H, W), input name)`` of the profile's input among the model's inputs."""
    name = profile.input.name
    if name not in shapes:
        raise EngineError("ONNX input %r (profile %s) not found; the model has %s: check --profile"
                          % (name, profile.name, sorted(shapes)))
    s = shapes[name]
    h, w = (s[1], s[2]) if profile.input.layout == "NHWC" else (s[2], s[3])
    if not (isinstance(h, int) and isinstance(w, int)):
        raise EngineError("ONNX input %r has a dynamic size %s: fix it first with `edgepose prepare MODEL.onnx "
                          "--profile %s --size HxW --out PREPARED.onnx`" % (name, list(s), profile.name))
    return s[0], (h, w), name


def build_engine(onnx_path, profile, options, trt=None, gpu=None):
    """Build and write the engine + sidecar; returns ``(engine_path, sidecar dict)``. ``gpu``: a
    ``GpuDevice`` (default: device 0 through ``load_cuda()``, pycuda or cuda-python)."""
    if not hasattr(profile, "input"):           # a name or path (a Profile, or a view of one, is used as is)
        from ..profiles import load_profile

        profile = load_profile(profile)
    opts = options
    trt = trt or import_trt()
    if gpu is None:
        gpu = _default_gpu()
    caps = Capabilities.of(trt)
    want_dtype = getattr(profile.input, "dtype", "float32")
    if want_dtype == "uint8" and not caps.uint8_input:
        raise EngineError("TensorRT %s has no uint8 network inputs (8.5.1 and newer have them): build the float "
                          "model with its float profile (e.g. tao-bpnet-paf8 instead of %s)"
                          % (version_string(trt), profile.name))
    shapes, onnx_kind, dtypes = model_facts(onnx_path, trt, gpu)
    bdim, size, in_name = _input_batch(shapes, profile)
    got_dtype = dtypes.get(in_name, "?")
    if got_dtype not in ("?", want_dtype):
        raise EngineError("%s: input %s is %s, profile %s says %s: %s" % (
            onnx_path, in_name, got_dtype, profile.name, want_dtype,
            "prepare it with that profile first (`edgepose prepare %s --profile %s --out MODEL.u8.onnx`)"
            % (onnx_path, profile.name) if want_dtype == "uint8" else
            "build it with the profile it was prepared with (a -u8 one)"))
    if opts.size and tuple(opts.size) != size:
        raise EngineError("%s has input size %dx%d, --size asks %dx%d: re-export it with `edgepose prepare %s "
                          "--profile %s --size %dx%d --out PREPARED.onnx`"
                          % (onnx_path, size[0], size[1], opts.size[0], opts.size[1], onnx_path, profile.name,
                             opts.size[0], opts.size[1]))
    batch = parse_batch(opts.batch)
    if isinstance(bdim, int) and bdim > 0:
        if batch is not None and (batch.dynamic or batch.min != bdim):
            raise EngineError("%s has a fixed batch %d, --batch asks %s: make it dynamic with `edgepose prepare "
                              "--batch dynamic:MIN,OPT,MAX`" % (onnx_path, bdim, batch))
        batch = BatchRange(bdim, bdim, bdim)
    elif batch is None:
        batch = BatchRange(1, 1, 1)
    have_calib = bool(opts.calib or opts.calib_cache or opts.calib_set is not None)
    version = version_string(trt)
    flags, use_calib = plan_precision(caps, opts.precision, onnx_kind, have_calib)
    if onnx_kind == "int8" and have_calib:
        log.info("%s is a Q/DQ model: its own scales are used, --calib/--calib-cache are ignored", onnx_path)
    # The engine's real precision (names the file): what the flags enable, or what the ONNX carries (11.x).
    precision = onnx_kind if caps.strongly_typed else ("int8" if "INT8" in flags else "fp16" if "FP16" in flags
                                                       else "fp32")
    if opts.dla_core is not None and not caps.dla:
        raise EngineError("TensorRT %s has no DLA support: drop --dla" % version)
    if opts.dla_core is not None and precision == "fp32" and not opts.gpu_fallback:
        raise EngineError("DLA runs fp16 or int8 layers only: use --precision fp16/int8 or add --gpu-fallback")
    if opts.dla_core is not None and batch.dynamic:
        raise EngineError("DLA needs a fixed batch (min = opt = max), --batch gives %s: use --batch N (e.g. 1) for "
                          "--dla, or drop --dla for a dynamic batch on the GPU" % (batch,))
    if "INT8" in flags and "FP16" not in flags and not caps.strongly_typed:
        flags.append("FP16")      # layers without an INT8 kernel then run in FP16, not FP32
    if use_calib and caps.version >= (10, 1, 0):
        log.warning("implicit INT8 calibration is deprecated since TensorRT 10.1 and gone in 11: "
                    "`edgepose quantize` makes an explicit Q/DQ model that builds on every version")
    if opts.gpu_fallback and opts.dla_core is None:
        raise UsageError("--gpu-fallback only applies with --dla CORE")
    if opts.timing_cache and not caps.timing_cache:
        raise EngineError("TensorRT %s has no timing cache: drop --timing-cache" % version)

    dev = {"name": gpu.info.name, "compute_capability": gpu.info.compute_capability, "soc": jetson_model()}
    calibrator = None
    t0 = time.time()
    with gpu.current():
        serialized, inputs, outputs, calibrator, timing_blob, timing_meta, dla_layers = _build(
            trt, caps, gpu, dev, version, onnx_path, profile, opts, flags, use_calib, precision, batch, bdim, size,
            in_name)
    seconds = time.time() - t0
    name = engine_file_name(onnx_path, precision, batch, size, device_tag(dev, opts.dla_core), version)
    path = os.path.join(opts.out_dir, name)
    write_atomic(path, bytes(serialized))        # the engine first, then the timing cache
    if timing_blob is not None:
        write_atomic(opts.timing_cache, timing_blob)
        write_atomic(opts.timing_cache + ".json", json.dumps(timing_meta, indent=2, sort_keys=True).encode())
    calib_info = calibrator.describe() if calibrator is not None else None
    side = {
        "engine": name, "engine_sha256": sha256_file(path),
        "source_onnx": os.path.abspath(onnx_path), "source_onnx_sha256": sha256_file(onnx_path),
        "profile": profile.name, "precision": precision, "onnx_precision": onnx_kind, "builder_flags": flags,
        "batch": {"min": batch.min, "opt": batch.opt, "max": batch.max}, "size": list(size),
        "inputs": inputs, "outputs": outputs,
        "tensorrt_version": version, "build_path": caps.path,
        "device": dev, "dla_core": opts.dla_core, "gpu_fallback": bool(opts.gpu_fallback), "dla_layers": dla_layers,
        "cuda_library": gpu.lib.name,
        "workspace_mib": opts.workspace_mib, "calibration": calib_info,
        "build_seconds": round(seconds, 2),
        "built_at": datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ"),
        "build_command": build_command(opts.argv),
    }
    write_sidecar(path, side)
    log.info("wrote %s (%.1f MB, %.0f s)", path, os.path.getsize(path) / 1e6, seconds)
    return path, side


def _timing_key(version, dev):
    return {"tensorrt": version, "device": dev["name"], "compute_capability": dev["compute_capability"]}


def _read_timing_cache(path, key):
    """The timing cache bytes when ``path`` was made by this TensorRT on this GPU, else b"" (start afresh)."""
    if not os.path.isfile(path):
        return b""
    try:
        with open(path + ".json") as f:
            made_by = json.load(f)
    except (OSError, ValueError):
        made_by = None
    if made_by != key:
        log.warning("timing cache %s was made by %s, not TensorRT %s on %s: starting a new one", path,
                    made_by or "an unknown TensorRT/GPU", key["tensorrt"], key["device"])
        return b""
    with open(path, "rb") as f:
        return f.read()


def _build(trt, caps, gpu, dev, version, onnx_path, profile, opts, flags, use_calib, precision, batch, bdim, size,
           in_name):
    """The TensorRT part of ``build_engine``, under the current CUDA context."""
    calibrator = None
    try:
        logger = get_logger(trt)
        builder = trt.Builder(logger)
        if builder is None:
            raise EngineError("TensorRT could not create a builder on %s: check the CUDA driver" % dev["name"])
        net_flags = 0
        if caps.explicit_batch_flag:
            net_flags |= 1 << int(trt.NetworkDefinitionCreationFlag.EXPLICIT_BATCH)
        if caps.strongly_typed:
            net_flags |= 1 << int(trt.NetworkDefinitionCreationFlag.STRONGLY_TYPED)
        network = builder.create_network(net_flags)
        parser = trt.OnnxParser(network, logger)
        log.info("parsing %s (TensorRT %s, %s path)", onnx_path, version, caps.path)
        if not parser.parse_from_file(os.path.abspath(onnx_path)):
            errors = parser_errors(parser)
            for e in errors:
                log.error("ONNX parser: %s", e)
            raise EngineError("TensorRT %s cannot parse %s: %s" % (version, onnx_path,
                                                                     errors[0] if errors else "unknown parser error"))
        config = builder.create_builder_config()
        config.set_memory_pool_limit(trt.MemoryPoolType.WORKSPACE, int(opts.workspace_mib) << 20)
        for name in flags:
            config.set_flag(trt.BuilderFlag.FP16 if name == "FP16" else trt.BuilderFlag.INT8)
        if precision == "fp32":
            config.clear_flag(trt.BuilderFlag.TF32)      # on by default: fp32 would run in TF32 on Ampere/Orin
        if caps.version < (10, 0, 0) and hasattr(trt, "TacticSource"):
            # 8.x enables the cuBLAS/cuBLASLt/cuDNN tactics by default (about 600 MB resident on JetPack 5)
            drop = 0
            for src in (trt.TacticSource.CUBLAS, trt.TacticSource.CUBLAS_LT, trt.TacticSource.CUDNN):
                drop |= 1 << int(src)
            config.set_tactic_sources(config.get_tactic_sources() & ~drop)
        if batch.dynamic or not isinstance(bdim, int) or bdim <= 0:
            one = tuple(network.get_input(i).shape for i in range(network.num_inputs)
                        if network.get_input(i).name == in_name)[0]
            rest = tuple(one)[1:]
            opt_profile = builder.create_optimization_profile()
            opt_profile.set_shape(in_name, (batch.min,) + rest, (batch.opt,) + rest, (batch.max,) + rest)
            config.add_optimization_profile(opt_profile)
            if use_calib:
                config.set_calibration_profile(opt_profile)
        dla_layers = None
        if opts.dla_core is not None:
            cores = builder.num_DLA_cores
            if opts.dla_core < 0 or opts.dla_core >= cores:
                raise EngineError("--dla %d: this device has %d DLA core(s)%s" % (
                    opts.dla_core, cores, "" if cores else " (DLA exists on Jetson Xavier/Orin only): drop --dla"))
            config.default_device_type = trt.DeviceType.DLA
            config.DLA_core = int(opts.dla_core)
            if opts.gpu_fallback:
                config.set_flag(trt.BuilderFlag.GPU_FALLBACK)
            dla_layers = _dla_layers(config, network, opts)
        if use_calib:
            from .calibrator import CalibrationSet, make_entropy_calibrator

            calib_set = opts.calib_set
            if calib_set is None and opts.calib:
                calib_set = CalibrationSet(opts.calib, profile, size=size, batch_size=batch.opt, count=opts.calib_count)
            elif calib_set is None and not os.path.isfile(opts.calib_cache):
                raise EngineError("--calib-cache %s does not exist and no --calib DIR was given to create it"
                                  % opts.calib_cache)
            key = {"model_sha256": sha256_file(onnx_path), "tensorrt": version}
            calibrator = make_entropy_calibrator(trt, gpu, calib_set, opts.calib_cache, key)
            config.int8_calibrator = calibrator
        timing = timing_key = None
        if opts.timing_cache:
            timing_key = _timing_key(version, dev)
            timing = config.create_timing_cache(_read_timing_cache(opts.timing_cache, timing_key))
            if not config.set_timing_cache(timing, ignore_mismatch=False):
                log.warning("TensorRT refused the timing cache %s: building without it", opts.timing_cache)
                timing = config.create_timing_cache(b"")
                if not config.set_timing_cache(timing, ignore_mismatch=False):
                    timing = None
        log.info("building %s engine (batch %s, %dx%d, workspace %d MiB%s); this can take minutes",
                 precision, batch, size[0], size[1], opts.workspace_mib,
                 ", DLA %d" % opts.dla_core if opts.dla_core is not None else "")
        with build_progress(trt, config):
            serialized = builder.build_serialized_network(network, config)
        if calibrator is not None:
            calibrator.raise_if_failed()
        if serialized is None:
            raise EngineError("TensorRT %s failed to build %s (see the TensorRT errors above); try --workspace larger "
                              "or another --precision" % (version, onnx_path))
        timing_blob = bytes(config.get_timing_cache().serialize()) if timing is not None else None
        inputs = [_tensor_row(network.get_input(i)) for i in range(network.num_inputs)]
        outputs = [_tensor_row(network.get_output(i)) for i in range(network.num_outputs)]
    finally:
        if calibrator is not None:
            calibrator.free()
    return serialized, inputs, outputs, calibrator, timing_blob, timing_key, dla_layers


def _dla_layers(config, network, opts):
    """``{"dla": n, "layers": m}``: how many layers TensorRT can place on the DLA; refuses a useless DLA engine."""
    n = network.num_layers
    on_dla = sum(1 for i in range(n) if config.can_run_on_DLA(network.get_layer(i)))
    log.info("DLA core %d: %d of %d layers can run on the DLA%s", opts.dla_core, on_dla, n,
             ", the rest on the GPU (--gpu-fallback)" if on_dla < n else "")
    if on_dla == 0:
        raise EngineError("no layer of this model can run on DLA core %d (grouped ConvTranspose, dynamic shapes and "
                          "fp32 cannot): drop --dla" % opts.dla_core)
    if on_dla < n and not opts.gpu_fallback:
        raise EngineError("%d of %d layers cannot run on the DLA (e.g. the grouped ConvTranspose of the PAF "
                          "upsampling; `edgepose prepare` cuts it): add --gpu-fallback or drop --dla" % (n - on_dla, n))
    return {"dla": on_dla, "layers": n}


def _tensor_row(t):
    return {"name": t.name, "shape": [int(d) for d in t.shape], "dtype": str(t.dtype).split(".")[-1]}
