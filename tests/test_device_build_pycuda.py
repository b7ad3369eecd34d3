"""tools/device_build_pycuda.py: the compile step that builds one extension's files in parallel and resumes."""
import os
import sys
import threading
import time

import pytest

sys.path.insert(0, os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "tools"))
import device_build_pycuda as dbp  # noqa: E402


class FakeCompiler:
    """The private methods of distutils' CCompiler that the replacement relies on."""

    def __init__(self, tmp, fail=None, delay=0.05):
        self.tmp, self.fail, self.delay = tmp, fail, delay
        self.running = self.peak = 0
        self.lock = threading.Lock()
        self.compiled = []

    def _setup_compile(self, outdir, macros, incdirs, sources, depends, extra):
        objects = [os.path.join(outdir, os.path.basename(s) + ".o") for s in sources]
        return macros, objects, extra, [], {o: (s, ".cpp") for o, s in zip(objects, sources)}

    def _get_cc_args(self, pp_opts, debug, before):
        return ["-c"]

    def _compile(self, obj, src, ext, cc_args, extra_postargs, pp_opts):
        assert obj.endswith(".part") and extra_postargs[-1] == "-g0"
        with self.lock:
            self.running += 1
            self.peak = max(self.peak, self.running)
        time.sleep(self.delay)
        with self.lock:
            self.running -= 1
        if self.fail and src.endswith(self.fail):
            raise RuntimeError("compiler error in %s" % src)
        with open(obj, "w") as f:
            f.write("object of %s" % src)
        self.compiled.append(src)


def _sources(tmp, n=6):
    paths = []
    for i in range(n):
        p = tmp / ("f%d.cpp" % i)
        p.write_text("int f%d;" % i)
        paths.append(str(p))
    old = time.time() - 100
    for p in paths:
        os.utime(p, (old, old))
    return paths


def test_compiles_in_parallel_then_keeps_up_to_date_objects(tmp_path):
    out = tmp_path / "obj"
    out.mkdir()
    srcs = _sources(tmp_path)
    lines = []
    fn = dbp.make_parallel_compile(3, config_mtime=0, log=lines.append)
    cc = FakeCompiler(tmp_path)
    objs = fn(cc, srcs, output_dir=str(out))
    assert sorted(cc.compiled) == sorted(srcs) and cc.peak == 3
    assert all(os.path.isfile(o) for o in objs) and not list(out.glob("*.part"))
    # second run: nothing to do
    cc2 = FakeCompiler(tmp_path)
    fn(cc2, srcs, output_dir=str(out))
    assert cc2.compiled == [] and "compiling 0 of 6 objects" in lines[-1]
    # a touched source and a newer configuration recompile what they must
    os.utime(srcs[2], None)
    cc3 = FakeCompiler(tmp_path)
    fn(cc3, srcs, output_dir=str(out))
    assert cc3.compiled == [srcs[2]]
    cc4 = FakeCompiler(tmp_path)
    dbp.make_parallel_compile(2, config_mtime=time.time() + 10, log=lines.append)(cc4, srcs, output_dir=str(out))
    assert sorted(cc4.compiled) == sorted(srcs)


def test_a_failed_compile_leaves_no_object_and_stops_the_build(tmp_path):
    out = tmp_path / "obj"
    out.mkdir()
    srcs = _sources(tmp_path, 4)
    cc = FakeCompiler(tmp_path, fail="f1.cpp")
    with pytest.raises(RuntimeError, match="compiler error"):
        dbp.make_parallel_compile(2, 0, log=lambda s: None)(cc, srcs, output_dir=str(out))
    assert not (out / "f1.cpp.o").exists()


def test_refuses_a_tree_without_configure(tmp_path, capsys):
    (tmp_path / "setup.py").write_text("raise SystemExit(9)\n")
    assert dbp.main([str(tmp_path)]) == 2
    assert "configure.py" in capsys.readouterr().err
