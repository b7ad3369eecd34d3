#!/usr/bin/env bash
# The device self-test as one unattended run on a CUDA machine without network or registry (the CUDA items;
# the TensorRT items too where `import tensorrt` works)
# (see tools/DEVICE_RUN.md). Log: $OUT/device_check.log (and $OUT/pycuda_build.log). Exit status: that of
# the self-test (1 when an item FAILed).
#   .carry/ (optional, git-ignored): wheels to install into /tmp/site (pytools, platformdirs, mako, setuptools,
#   wheel, ...) and a pycuda sdist to build in the background while the cuda-python items run.
set -u
OUT=${OUT:-/tmp/edgepose-device-out}
mkdir -p "$OUT"
PY=${PYTHON:-python3}
case "$PY" in */*) PY="$(cd "$(dirname "$PY")" && pwd)/$(basename "$PY")";; esac   # absolute: the build cds away
CARRY=$(cd "${CARRY:-.carry}" 2>/dev/null && pwd || echo "${CARRY:-.carry}")
SITE=${SITE:-/tmp/site}
BUILD=${PYCUDA_BUILD:-/tmp/pycuda-build}
BUILD_LIMIT=${BUILD_LIMIT:-95}
TOOLS=$(cd "$(dirname "$0")" && pwd)
export PYTHONPATH="$BUILD:$SITE${PYTHONPATH:+:$PYTHONPATH}"

build_pycuda() {
  local sdist
  sdist=$(ls "$CARRY"/pycuda-*.tar.gz 2>/dev/null | head -1)
  [ -n "$sdist" ] || { echo "no pycuda sdist in $CARRY"; return 3; }
  command -v nvcc >/dev/null || export PATH="$PATH:/usr/local/cuda/bin"
  command -v nvcc >/dev/null || { echo "nvcc not on PATH: pycuda cannot be built"; return 3; }
  "$PY" -c 'import sysconfig, os, sys; h = os.path.join(sysconfig.get_paths()["include"], "Python.h"); print("Python.h:", h, os.path.exists(h)); sys.exit(0 if os.path.exists(h) else 1)' \
    || { echo "no Python headers (python3-dev): pycuda cannot be built"; return 3; }
  local root
  for root in "${CUDA_HOME:-}" "${CUDA_PATH:-}" /usr/local/cuda "$(dirname "$(dirname "$(readlink -f "$(command -v nvcc)")")")"; do
    [ -n "$root" ] && [ -f "$root/include/cuda.h" ] && break
  done
  [ -f "$root/include/cuda.h" ] || { echo "cuda.h not found (set CUDA_HOME): pycuda cannot be built"; return 3; }
  echo "CUDA root: $root"
  # Unpack once: a second run (the machine still warm) keeps the objects compiled so far.
  local stamp="$BUILD/.edgepose-sdist"
  if [ -f "$BUILD/setup.py" ] && [ "$(cat "$stamp" 2>/dev/null)" = "$(basename "$sdist")" ]; then
    echo "reusing $BUILD (unpacked from $(basename "$sdist") before)"
  else
    rm -rf "$BUILD" && mkdir -p "$BUILD" && tar xzf "$sdist" -C "$BUILD" --strip-components=1 || return 3
    basename "$sdist" > "$stamp"
  fi
  local extra=""
  [ -f "$root/include/curand.h" ] || { extra="--no-cuda-enable-curand"; echo "no curand.h: building without CURAND"; }
  if [ ! -f "$BUILD/siteconf.py" ]; then
    (cd "$BUILD" && "$PY" configure.py --cuda-root="$root" $extra > /dev/null) || { rm -f "$BUILD/siteconf.py"; return 3; }
  fi
  # one compiler per core across the files of pycuda's one big extension; objects already built are kept
  time timeout "$BUILD_LIMIT" "$PY" "$TOOLS/device_build_pycuda.py" "$BUILD" --jobs "$(nproc)"
}

{
  echo "== $(date -u +%FT%TZ) $(uname -m) $("$PY" -V 2>&1)"
  nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv,noheader 2>&1 | head -2
  (command -v nvcc >/dev/null && nvcc --version | tail -1) || echo "nvcc: not on PATH"
  if ls "$CARRY"/*.whl >/dev/null 2>&1 && [ ! -d "$SITE/pytools" ]; then
    echo "== installing carried wheels into $SITE"
    "$PY" -m pip install -q --no-index --find-links "$CARRY" --target "$SITE" "$CARRY"/*.whl 2>&1 | tail -3
  fi
  BUILD_PID=
  if "$PY" -c "import pycuda.driver" 2>/dev/null; then
    echo "== pycuda importable already"
  elif ls "$CARRY"/pycuda-*.tar.gz >/dev/null 2>&1; then
    echo "== building pycuda in the background (log: pycuda_build.log, limit ${BUILD_LIMIT}s)"
    (build_pycuda > "$OUT/pycuda_build.log" 2>&1; echo "pycuda build exit $?" >> "$OUT/pycuda_build.log") &
    BUILD_PID=$!
  fi
  echo "== cuda-python items"
  "$PY" tools/device_check.py --cuda-only --library cuda-python
  rc1=$?
  if [ -n "$BUILD_PID" ]; then
    echo "== waiting for the pycuda build"
    wait "$BUILD_PID"
    tail -5 "$OUT/pycuda_build.log"
  fi
  echo "== all libraries (pycuda, cuda-python, both together)"
  "$PY" tools/device_check.py --cuda-only
  rc2=$?
  rc3=0
  if "$PY" -c "import tensorrt" 2>/dev/null; then
    echo "== TensorRT items (engines of the bundled model against the golden outputs)"
    "$PY" tools/device_check.py
    rc3=$?
  else
    echo "== no TensorRT here: engine items not run"
  fi
  echo "== exit: cuda-python run $rc1, all-libraries run $rc2, full run $rc3"
  [ "$rc1" = 0 ] && [ "$rc2" = 0 ] && [ "$rc3" = 0 ]
} > >(tee "$OUT/device_check.log") 2>&1
