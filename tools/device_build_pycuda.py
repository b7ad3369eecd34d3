#!/usr/bin/env python3
"""Build pycuda in place from an unpacked sdist, compiling the files of one extension in parallel.

    python3 tools/device_build_pycuda.py SRC_DIR [--jobs N] [--debug-info]

Why not plain ``setup.py build_ext -j N``: setuptools' ``-j`` runs *extensions* in parallel, and
pycuda's time is one extension (``_driver``: ~40 C++ files, ``src/wrapper/wrap_cudadrv.cpp`` the
longest), so it compiled one file at a time. distutils also recompiles every object of an extension
it builds, so a build stopped by a time limit started again from nothing.

This script runs pycuda's own ``setup.py build_ext --inplace`` in this process with the compiler's
``compile`` step replaced by one that:

- compiles the objects on ``--jobs`` threads (each a compiler process),
- skips an object that is newer than its source and than ``siteconf.py`` (a stopped build resumes),
- writes each object to ``<obj>.part`` and renames it when the compiler succeeded (a killed
  compiler never leaves a truncated object that the skip would trust),
- adds ``-g0`` (no debug info: pycuda's own flag filter misses distutils' ``-g``), unless
  ``--debug-info``,
- prints one line per object with its time (progress for a long build).

It needs ``configure.py`` to have been run in SRC_DIR (``siteconf.py``); without it pycuda waits
10 s and guesses, so this script refuses instead. Exit status: setup.py's (0 when built).
"""
import argparse
import os
import runpy
import sys
import threading
import time
from concurrent.futures import ThreadPoolExecutor


def _up_to_date(obj, src, config_mtime):
    try:
        got = os.path.getmtime(obj)
    except OSError:
        return False
    return got >= os.path.getmtime(src) and got >= config_mtime


def make_parallel_compile(jobs, config_mtime, debug_info=False, log=print):
    """A replacement for ``CCompiler.compile`` built on the class's own ``_setup_compile``,
    ``_get_cc_args`` and ``_compile`` (present in the stdlib distutils and setuptools' copy)."""
    lock = threading.Lock()

    def compile(self, sources, output_dir=None, macros=None, include_dirs=None, debug=False, extra_preargs=None,
                extra_postargs=None, depends=None):
        macros, objects, extra_postargs, pp_opts, build = self._setup_compile(
            output_dir, macros, include_dirs, sources, depends, extra_postargs)
        cc_args = self._get_cc_args(pp_opts, debug, extra_preargs)
        post = list(extra_postargs or []) + ([] if debug_info else ["-g0"])
        todo = [o for o in objects if o in build]
        stale = [o for o in todo if not _up_to_date(o, build[o][0], config_mtime)]
        log("compiling %d of %d objects on %d threads (%d up to date)" % (len(stale), len(todo), jobs,
                                                                           len(todo) - len(stale)))
        done = [0]

        def one(obj):
            src, ext = build[obj]
            part = obj + ".part"
            t0 = time.monotonic()
            self._compile(part, src, ext, cc_args, post, pp_opts)
            os.replace(part, obj)
            with lock:
                done[0] += 1
                log("[%d/%d] %s %.1f s" % (done[0], len(stale), src, time.monotonic() - t0))

        with ThreadPoolExecutor(max_workers=max(1, jobs)) as pool:
            for future in [pool.submit(one, o) for o in stale]:
                future.result()          # the first compiler error stops the build with its message
        return objects

    return compile


def _compiler_classes():
    """The CCompiler classes setup.py may use: the ``distutils`` that setuptools provides, and the stdlib
    one where it still exists (Python < 3.12)."""
    import setuptools  # noqa: F401  (installs setuptools' distutils first)
    import distutils.ccompiler

    classes = [distutils.ccompiler.CCompiler]
    try:
        from setuptools._distutils import ccompiler as st_ccompiler
        classes.append(st_ccompiler.CCompiler)
    except ImportError:
        pass
    return {id(c): c for c in classes}.values()


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("src", help="unpacked pycuda sdist (configure.py already run there)")
    p.add_argument("--jobs", "-j", type=int, default=os.cpu_count() or 1, help="compiler processes (default: all cores)")
    p.add_argument("--debug-info", action="store_true", help="keep -g (larger objects, slower compile)")
    args = p.parse_args(argv)
    src = os.path.abspath(args.src)
    siteconf = os.path.join(src, "siteconf.py")
    if not os.path.isfile(os.path.join(src, "setup.py")):
        print("%s: no setup.py here: unpack the pycuda sdist first" % src, file=sys.stderr)
        return 2
    if not os.path.isfile(siteconf):
        print("%s: missing: run `python3 configure.py --cuda-root=...` in %s first" % (siteconf, src), file=sys.stderr)
        return 2
    os.chdir(src)
    sys.path.insert(0, src)
    compile_fn = make_parallel_compile(args.jobs, os.path.getmtime(siteconf), args.debug_info,
                                       log=lambda s: print(s, flush=True))
    for cls in _compiler_classes():
        cls.compile = compile_fn
    sys.argv = ["setup.py", "build_ext", "--inplace"]
    t0 = time.monotonic()
    try:
        runpy.run_path(os.path.join(src, "setup.py"), run_name="__main__")
    except SystemExit as e:
        if e.code not in (None, 0):
            print("pycuda build failed after %.0f s: %s" % (time.monotonic() - t0, e.code), flush=True)
            return e.code if isinstance(e.code, int) else 1
    except Exception as e:          # a compiler error (CompileError) or setup.py's own failure
        print("pycuda build failed after %.0f s: %s: %s" % (time.monotonic() - t0, type(e).__name__, e), flush=True)
        return 1
    print("pycuda built in place in %.0f s" % (time.monotonic() - t0), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
