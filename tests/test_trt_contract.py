"""API contract tests: every TensorRT name our code uses exists in the REAL TensorRT Python API (10.x, 11.x).

1. An AST scan of edgepose/engine/*.py and edgepose/backends/tensorrt*.py collects every ``trt.A.B``
   attribute chain and every attribute used on a variable that holds a TensorRT object (``builder``,
   ``network``, ``config``, ``eng``, ``ctx``, ... see TRT_VARS), with the keyword names of each call.
   Everything found must be declared in MANIFEST (a test fails otherwise), so a new TensorRT call cannot
   slip in unchecked.
2. The real bindings wheels (``tensorrt-bindings`` 8.6, ``tensorrt-cu12-bindings`` 10.3,
   ``tensorrt-cu13-bindings`` 11.4, and the runtime-only ``tensorrt-lean-cu12/cu13-bindings``) are
   downloaded once into ~/.cache/edgepose-trt-wheels, installed with ``pip install --target --no-deps``,
   and imported IN A SUBPROCESS over tiny C link stubs compiled here with gcc (tools/trt_stubs/). The
   subprocess reports, for every manifest entry, whether it exists and the parameter names of its
   pybind11 signature(s). Entries required for that major version must exist, and every keyword and the
   number of positional arguments at each call site must fit. A typo in a TensorRT call fails here.

No Builder or Runtime is ever created (that segfaults without a GPU). Without network access or gcc
the real-API tests skip with a loud reason; the scan tests always run.
"""
import ast
import glob
import json
import os
import shutil
import subprocess
import sys

import numpy as np
import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
CACHE = os.path.join(os.path.expanduser("~"), ".cache", "edgepose-trt-wheels")
STUB_SRC = os.path.join(ROOT, "tools", "trt_stubs", "trt_link_stubs.c")
PARSER8_SRC = os.path.join(ROOT, "tools", "trt_stubs", "trt8_parser_stubs.c")  # libnvparsers.so.8 (UFF/Caffe)

# The versions checked: 8.6 (the 8.x path of JetPack 5), JetPack 6.2's 10.3 and the current 11.x; the full API (builder + runtime) and the
# lean runtime-only API (what the runtime side needs). (flavor, major) -> (distribution, version, module, libs)
WHEELS = {
    ("full", 8): ("tensorrt-bindings", "8.6.1", "tensorrt_bindings",
                  ("libnvinfer", "libnvonnxparser", "libnvinfer_plugin", "libnvparsers")),
    ("full", 10): ("tensorrt-cu12-bindings", "10.3.0", "tensorrt_bindings",
                   ("libnvinfer", "libnvonnxparser", "libnvinfer_plugin")),
    ("full", 11): ("tensorrt-cu13-bindings", "11.4.0.106", "tensorrt_bindings",
                   ("libnvinfer", "libnvonnxparser", "libnvinfer_plugin")),
    ("lean", 10): ("tensorrt-lean-cu12-bindings", "10.3.0", "tensorrt_lean_bindings", ("libnvinfer_lean",)),
    ("lean", 11): ("tensorrt-lean-cu13-bindings", "11.4.0.106", "tensorrt_lean_bindings", ("libnvinfer_lean",)),
}
# What the runtime side uses; the lean runtime must have these.
RUNTIME_PREFIXES = ("Runtime", "ICudaEngine.", "IExecutionContext.", "TensorIOMode.", "ILogger", "nptype")

ALL = (8, 10, 11)
PRE11 = (8, 10)
# Every TensorRT name our code uses -> major versions in which it must exist. Code using a PRE11 name
# must gate it on the version (see edgepose.engine.trt.Capabilities).
MANIFEST = {
    # module level
    "Builder": ALL, "OnnxParser": ALL, "Runtime": ALL, "ILogger": ALL, "IInt8EntropyCalibrator2": PRE11,
    "ILogger.Severity": ALL, "ILogger.Severity.INTERNAL_ERROR": ALL, "ILogger.Severity.ERROR": ALL, "ILogger.Severity.WARNING": ALL,
    "ILogger.Severity.INFO": ALL, "ILogger.Severity.VERBOSE": ALL, "ILogger.log": ALL, "ILogger.__init__": ALL,
    "NetworkDefinitionCreationFlag.EXPLICIT_BATCH": PRE11, "NetworkDefinitionCreationFlag.STRONGLY_TYPED": (10, 11),
    "BuilderFlag.FP16": PRE11, "BuilderFlag.INT8": PRE11, "BuilderFlag.GPU_FALLBACK": ALL,
    "MemoryPoolType.WORKSPACE": ALL, "DeviceType.DLA": ALL, "TensorIOMode.INPUT": ALL, "TensorIOMode.OUTPUT": ALL,
    "nptype": ALL,
    # calibrator overrides
    "IInt8EntropyCalibrator2.__init__": PRE11, "IInt8EntropyCalibrator2.get_batch_size": PRE11,
    "IInt8EntropyCalibrator2.get_batch": PRE11, "IInt8EntropyCalibrator2.read_calibration_cache": PRE11,
    "IInt8EntropyCalibrator2.write_calibration_cache": PRE11,
    # Builder
    "Builder.__init__": ALL, "Builder.create_network": ALL, "Builder.create_builder_config": ALL,
    "Builder.create_optimization_profile": ALL, "Builder.build_serialized_network": ALL,
    "Builder.num_DLA_cores": ALL,
    # INetworkDefinition / ITensor
    "INetworkDefinition.num_inputs": ALL, "INetworkDefinition.num_outputs": ALL,
    "INetworkDefinition.get_input": ALL, "INetworkDefinition.get_output": ALL,
    "ITensor.name": ALL, "ITensor.shape": ALL, "ITensor.dtype": ALL,
    # OnnxParser
    "OnnxParser.__init__": ALL, "OnnxParser.parse_from_file": ALL, "OnnxParser.num_errors": ALL,
    "OnnxParser.get_error": ALL,
    # IBuilderConfig
    "IBuilderConfig.set_memory_pool_limit": ALL, "IBuilderConfig.set_flag": ALL,
    "IBuilderConfig.add_optimization_profile": ALL, "IBuilderConfig.set_calibration_profile": PRE11,
    "IBuilderConfig.int8_calibrator": PRE11, "IBuilderConfig.default_device_type": ALL,
    "IBuilderConfig.DLA_core": ALL, "IBuilderConfig.create_timing_cache": ALL,
    "IBuilderConfig.set_timing_cache": ALL, "IBuilderConfig.get_timing_cache": ALL,
    "ITimingCache.serialize": ALL,
    "IOptimizationProfile.set_shape": ALL,
    # issue 12: TF32 off for fp32, 8.x tactic sources, DLA layer placement
    "BuilderFlag.TF32": ALL, "IBuilderConfig.clear_flag": ALL,
    "TacticSource.CUBLAS": (8,), "TacticSource.CUBLAS_LT": (8,), "TacticSource.CUDNN": (8,),
    "IBuilderConfig.get_tactic_sources": ALL, "IBuilderConfig.set_tactic_sources": ALL,
    "IBuilderConfig.can_run_on_DLA": ALL, "INetworkDefinition.num_layers": ALL, "INetworkDefinition.get_layer": ALL,
    # issue 12, second part: the build without the onnx package reads the parsed network (Q/DQ layers, half tensors)
    "LayerType.QUANTIZE": ALL, "LayerType.DEQUANTIZE": ALL, "DataType.HALF": ALL,
    "ILayer.type": ALL, "ILayer.num_outputs": ALL, "ILayer.get_output": ALL,
    # uint8-input models (-u8 profiles): TensorRT 8.5.1+ has DataType.UINT8 for network I/O
    "DataType.UINT8": ALL, "DataType.FLOAT": ALL,
    # build progress (edgepose/engine/buildprogress.py): TensorRT 10+ reports its phases; 8.x gets a ticker
    "IProgressMonitor": (10, 11), "IProgressMonitor.__init__": (10, 11), "IProgressMonitor.phase_start": (10, 11),
    "IProgressMonitor.step_complete": (10, 11), "IProgressMonitor.phase_finish": (10, 11),
    "IBuilderConfig.progress_monitor": (10, 11),
    # runtime (edgepose/backends/tensorrt.py)
    "Runtime.__init__": ALL, "Runtime.deserialize_cuda_engine": ALL,
    "ICudaEngine.create_execution_context": ALL, "ICudaEngine.num_io_tensors": ALL,
    "ICudaEngine.get_tensor_name": ALL, "ICudaEngine.get_tensor_mode": ALL, "ICudaEngine.get_tensor_shape": ALL,
    "ICudaEngine.get_tensor_dtype": ALL, "ICudaEngine.get_tensor_profile_shape": ALL,
    "ICudaEngine.get_profile_shape": (8,),
    "IExecutionContext.set_input_shape": ALL, "IExecutionContext.set_tensor_address": ALL,
    "IExecutionContext.get_tensor_shape": ALL, "IExecutionContext.execute_async_v3": ALL,
}

# Expressions (exact source text) that hold TensorRT objects in our code -> their class.
TRT_VARS = {
    "sev": "ILogger.Severity", "builder": "Builder", "network": "INetworkDefinition", "parser": "OnnxParser", "config": "IBuilderConfig",
    "opt_profile": "IOptimizationProfile", "timing": "ITimingCache",
    "self._runtime": "Runtime", "runtime": "Runtime",
    "eng": "ICudaEngine", "engine": "ICudaEngine", "self._engine": "ICudaEngine",
    "ctx": "IExecutionContext", "context": "IExecutionContext", "self._context": "IExecutionContext",
    "probe": "IExecutionContext", "lane.context": "IExecutionContext", "layer": "ILayer",
}
# Call results whose attributes are used: "<receiver class>.<method>" -> class of the result.
RESULTS = {"INetworkDefinition.get_input": "ITensor", "INetworkDefinition.get_output": "ITensor",
           "IBuilderConfig.get_timing_cache": "ITimingCache", "ILayer.get_output": "ITensor",
           "INetworkDefinition.get_layer": "ILayer", "Builder.__call__": "Builder"}
# Calibrator subclass method names (overrides of IInt8EntropyCalibrator2) and logger overrides.
OVERRIDES = {"IInt8EntropyCalibrator2": ["get_batch_size", "get_batch", "read_calibration_cache",
                                         "write_calibration_cache"], "ILogger": ["log"]}


def source_files():
    files = sorted(glob.glob(os.path.join(ROOT, "edgepose", "engine", "*.py")))
    files += sorted(glob.glob(os.path.join(ROOT, "edgepose", "backends", "tensorrt*.py")))
    files += [os.path.join(ROOT, "edgepose", "selftest", "trt_checks.py")]
    return files


def _text(node):
    """Dotted text of a Name/Attribute chain, or None."""
    parts = []
    while isinstance(node, ast.Attribute):
        parts.append(node.attr)
        node = node.value
    if isinstance(node, ast.Name):
        parts.append(node.id)
        return ".".join(reversed(parts))
    return None


def scan(files=None):
    """``{manifest key: [(file:line, positional count or None, [keywords])]}`` of TensorRT uses in our code."""
    uses = {}

    def add(key, where, call=None):
        nargs = kws = None
        if call is not None:
            nargs = len(call.args) if not any(isinstance(a, ast.Starred) for a in call.args) else None
            kws = [k.arg for k in call.keywords if k.arg]
        uses.setdefault(key, []).append((where, nargs, kws or []))

    for path in files or source_files():
        tree = ast.parse(open(path).read(), path)
        parents = {}
        for node in ast.walk(tree):
            for child in ast.iter_child_nodes(node):
                parents[child] = node
        rel = os.path.relpath(path, ROOT)
        for node in ast.walk(tree):
            if not isinstance(node, ast.Attribute) or isinstance(parents.get(node), ast.Attribute):
                continue  # only the outermost attribute of a chain
            where = "%s:%d" % (rel, node.lineno)
            parent = parents.get(node)
            call = parent if isinstance(parent, ast.Call) and parent.func is node else None
            text = _text(node)
            if text and text.startswith("trt.") and text != "trt.__version__":
                add(text[4:], where, call)
                if call is not None and text.endswith(".__init__") and uses[text[4:]][-1][1]:
                    w, n, k = uses[text[4:]][-1]  # Base.__init__(self, ...): self is passed explicitly
                    uses[text[4:]][-1] = (w, n - 1, k)
                continue
            recv = node.value
            cls = None
            rtext = _text(recv)
            if rtext in TRT_VARS:
                cls = TRT_VARS[rtext]
            elif isinstance(recv, ast.Call) and isinstance(recv.func, ast.Attribute):
                inner = _text(recv.func.value)
                if inner in TRT_VARS:
                    cls = RESULTS.get("%s.%s" % (TRT_VARS[inner], recv.func.attr))
            if cls:
                add("%s.%s" % (cls, node.attr), where, call)
        # classes deriving from trt.X: their overriding methods
        for node in ast.walk(tree):
            if isinstance(node, ast.ClassDef):
                for base in node.bases:
                    b = _text(base)
                    if b and b.startswith("trt.") and b[4:] in OVERRIDES:
                        for item in node.body:
                            if isinstance(item, ast.FunctionDef) and item.name in OVERRIDES[b[4:]]:
                                add("%s.%s" % (b[4:], item.name), "%s:%d" % (rel, item.lineno))
    return uses


def test_scan_finds_the_builder_calls():
    uses = scan()
    for key in ("Builder", "BuilderFlag.FP16", "IBuilderConfig.set_memory_pool_limit", "Builder.build_serialized_network",
                "IOptimizationProfile.set_shape", "IInt8EntropyCalibrator2.get_batch", "ITimingCache.serialize"):
        assert key in uses, key
    assert any(kw == ["ignore_mismatch"] for _, _, kw in uses["IBuilderConfig.set_timing_cache"])


def test_every_tensorrt_use_is_in_the_manifest():
    missing = {k: v[0][0] for k, v in scan().items() if k not in MANIFEST}
    assert not missing, ("TensorRT API used but not declared in tests/test_trt_contract.py MANIFEST "
                         "(add it with the versions it must exist in): %s" % missing)


def test_scan_catches_a_typo(tmp_path):
    bad = tmp_path / "bad.py"
    bad.write_text("def f(trt, builder, config):\n    config.set_flag(trt.BuilderFlag.FP61)\n"
                   "    builder.build_serialised_network(None, config)\n")
    uses = scan([str(bad)])
    assert {"BuilderFlag.FP61", "Builder.build_serialised_network"} <= set(uses)
    assert not {"BuilderFlag.FP61", "Builder.build_serialised_network"} & set(MANIFEST)


# ---------------------------------------------------------------- the real API, in a subprocess

PROBE = r"""
import json, re, sys
import importlib
trt = importlib.import_module(sys.argv[2])
keys = json.loads(sys.argv[1])
out = {"__version__": trt.__version__}
for key in keys:
    obj = trt
    ok = True
    for part in key.split("."):
        if not hasattr(obj, part):
            ok = False
            break
        obj = getattr(obj, part)
    sigs = []
    doc = getattr(obj, "__doc__", None) or "" if ok else ""
    name = key.split(".")[-1]
    for line in doc.splitlines():
        m = re.match(r"\s*(?:\d+\.\s*)?%s\((.*)\)\s*(->.*)?$" % re.escape(name), line)
        if m:
            sigs.append(re.findall(r"(?:^|, )\*{0,2}(\w+)(?::|,|$)", m.group(1)))
    out[key] = {"exists": ok, "signatures": sigs, "callable": callable(obj) if ok else False}
print(json.dumps(out))
"""


def _pip(*args):
    return subprocess.run([sys.executable, "-m", "pip"] + list(args), capture_output=True, text=True, timeout=300)


def _install(key):
    dist, version, module, _ = WHEELS[key]
    major = key[1]
    site = os.path.join(CACHE, "site-%s-%s" % (dist, version))
    if os.path.isdir(os.path.join(site, module)):
        return site
    os.makedirs(CACHE, exist_ok=True)
    pattern = os.path.join(CACHE, "%s-%s-*.whl" % (dist.replace("-", "_"), version))
    if not glob.glob(pattern):
        r = _pip("download", "--no-deps", "-q", "-d", CACHE, "%s==%s" % (dist, version))
        if r.returncode or not glob.glob(pattern):
            pytest.skip("!!! TensorRT %s API contract NOT CHECKED: cannot download %s==%s (%s)"
                        % (major, dist, version, (r.stderr or r.stdout).strip().splitlines()[-1:]))
    tmp = site + ".tmp%d" % os.getpid()
    r = _pip("install", "--no-deps", "--no-index", "-q", "--target", tmp, glob.glob(pattern)[0])
    if r.returncode:
        pytest.skip("!!! TensorRT %s API contract NOT CHECKED: pip install --target failed: %s" % (major, r.stderr[-300:]))
    shutil.rmtree(site, ignore_errors=True)
    os.replace(tmp, site)
    return site


def _stubs(major, libs, folder):
    if not shutil.which("gcc"):
        pytest.skip("!!! TensorRT %s API contract NOT CHECKED: gcc is missing (needed for the link stubs)" % major)
    os.makedirs(folder, exist_ok=True)
    for lib in libs:
        src = PARSER8_SRC if lib == "libnvparsers" else STUB_SRC
        subprocess.run(["gcc", "-shared", "-fPIC", "-o", os.path.join(folder, "%s.so.%d" % (lib, major)), src],
                       check=True, capture_output=True)
    return folder


def _probe(key, tmp_path_factory):
    dist, version, module, libs = WHEELS[key]
    flavor, major = key
    site = _install(key)
    stubs = _stubs(major, libs, str(tmp_path_factory.mktemp("stubs-%s%d" % key)))
    env = dict(os.environ, PYTHONPATH=site, LD_LIBRARY_PATH=stubs)
    r = subprocess.run([sys.executable, "-c", PROBE, json.dumps(sorted(MANIFEST)), module], env=env,
                       capture_output=True, text=True, timeout=120)
    if r.returncode:
        pytest.fail("importing the real %s==%s over the link stubs failed: %s" % (dist, version, r.stderr[-2000:]))
    return json.loads(r.stdout.strip().splitlines()[-1])


@pytest.fixture(scope="session", params=[8, 10, 11], ids=lambda m: "trt%d" % m)
def real_api(request, tmp_path_factory):
    return request.param, _probe(("full", request.param), tmp_path_factory)


@pytest.fixture(scope="session", params=[10, 11], ids=lambda m: "lean%d" % m)
def lean_api(request, tmp_path_factory):
    return request.param, _probe(("lean", request.param), tmp_path_factory)


def test_lean_runtime_has_what_the_runtime_side_uses(lean_api):
    major, api = lean_api
    assert api["__version__"].startswith("%d." % major)
    keys = [k for k in scan() if k.startswith(RUNTIME_PREFIXES)]
    assert "Runtime.deserialize_cuda_engine" in keys
    missing = [k for k in keys if major in MANIFEST.get(k, ()) and not api[k]["exists"]]
    assert not missing, "tensorrt-lean %s lacks: %s" % (api["__version__"], missing)


def test_real_api_has_every_manifest_entry(real_api):
    major, api = real_api
    assert api["__version__"].startswith("%d." % major)
    missing = [k for k, majors in MANIFEST.items() if major in majors and not api[k]["exists"]]
    assert not missing, "TensorRT %s lacks: %s" % (api["__version__"], missing)
    gone = [k for k, majors in MANIFEST.items() if major not in majors and api[k]["exists"]]
    # Informational: names we treat as version-gated but that still exist (harmless).
    print("TensorRT %s: %d entries checked; gated but present: %s" % (api["__version__"], len(MANIFEST), gone))


def test_real_api_signatures_fit_our_calls(real_api):
    major, api = real_api
    problems = []
    for key, sites in scan().items():
        info = api.get(key)
        if not info or not info["exists"] or major not in MANIFEST.get(key, ()):
            continue
        sigs = info["signatures"]
        if not sigs:
            continue  # properties, enum members, plain Python functions without a pybind11 signature
        for where, nargs, kws in sites:
            if nargs is None and not kws:
                continue
            fits = False
            for params in sigs:
                params = [p for p in params if p != "self"]
                if nargs is not None and nargs > len(params):
                    continue
                if any(k not in params for k in kws):
                    continue
                fits = True
            if not fits:
                problems.append("%s: %s(%s positional, keywords %s) does not fit %s"
                                % (where, key, nargs, kws, sigs))
    assert not problems, "TensorRT %s: %s" % (api["__version__"], "\n".join(problems))


def test_version_gated_names_are_really_gone_in_11(real_api):
    major, api = real_api
    if major != 11:
        pytest.skip("11.x only")
    for key in ("BuilderFlag.FP16", "BuilderFlag.INT8", "IInt8EntropyCalibrator2",
                "NetworkDefinitionCreationFlag.EXPLICIT_BATCH"):
        assert not api[key]["exists"], key


def test_capabilities_of_the_real_version(real_api):
    """Capabilities.of() must see the real module's features the way the builder expects."""
    major, api = real_api
    from edgepose.engine.trt import Capabilities

    class Probe:
        pass

    mod = Probe()
    mod.__version__ = api["__version__"]
    for key in ("BuilderFlag.FP16", "BuilderFlag.INT8", "IInt8EntropyCalibrator2", "DeviceType.DLA", "DataType.UINT8"):
        if api.get(key, {}).get("exists"):
            obj = mod
            for part in key.split("."):
                if not hasattr(obj, part):
                    setattr(obj, part, Probe())
                obj = getattr(obj, part)
    mod.IBuilderConfig = Probe()
    mod.IBuilderConfig.create_timing_cache = object()
    caps = Capabilities.of(mod)
    assert caps.strongly_typed == (major >= 11)
    assert caps.builder_precision_flags == (major < 11) and caps.implicit_int8 == (major < 11)
    assert caps.explicit_batch_flag == (major < 10)
    assert caps.uint8_input, "TensorRT %s: no DataType.UINT8, the -u8 profiles would be refused" % api["__version__"]


def test_progress_monitor_overrides_fit_the_real_signatures(real_api):
    """pybind11 calls our IProgressMonitor overrides with the real methods' arguments: same parameters."""
    import inspect

    from edgepose.engine import buildprogress

    major, api = real_api
    if major < 10:
        assert not api["IProgressMonitor"]["exists"]          # 8.x: the elapsed-time ticker instead
        return
    for name, fn in (("phase_start", buildprogress._phase_start), ("step_complete", buildprogress._step_complete),
                     ("phase_finish", buildprogress._phase_finish)):
        real = api["IProgressMonitor." + name]["signatures"]
        assert real and list(inspect.signature(fn).parameters) == real[0], (name, real)


def test_uint8_inputs_map_to_numpy_on_every_real_version(real_api):
    """The runtime names TensorRT's types by member name (``backends.tensorrt.DTYPES``): UINT8 must be a real
    member there, and so must every other name the table maps."""
    from edgepose.backends.tensorrt import DTYPES

    major, api = real_api
    assert api["DataType.UINT8"]["exists"] and DTYPES["UINT8"] is np.uint8
    assert api["DataType.FLOAT"]["exists"]
