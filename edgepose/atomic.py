"""Files that appear whole or not at all: written to a hidden temporary name beside the target, then
renamed into place with ``os.replace`` (atomic on POSIX). A crash or an error leaves the old file (or
none), never a half-written one; the temporary file is removed on error.

Used for every artifact edgepose writes: engines and their sidecars, calibration caches, prepared
models, snapshots, queue files, JSON results, synthetic data sets.
"""
import contextlib
import json
import os
import tempfile

from .errors import OutputError


def _tmp_path(path):
    folder, name = os.path.split(os.path.abspath(os.fspath(path)))
    return os.path.join(folder, ".%s.%d.tmp" % (name, os.getpid()))


@contextlib.contextmanager
def atomic_open(path, mode="w", fsync=False, makedirs=True, perms=None):
    """``with atomic_open(path, "wb") as f: ...``: ``f`` becomes ``path`` when the block ends without error.

    mode: "w" (text, UTF-8) or "wb". fsync: flush to the disk before the rename (survives power loss).
    makedirs: create the folder when it does not exist. perms: the file's permission bits (e.g. 0o600
    for private data; the umask still applies), default: the umask's.
    """
    path = os.fspath(path)
    if makedirs:
        os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
    tmp = _tmp_path(path)
    opener = None if perms is None else (lambda p, flags: os.open(p, flags, perms))
    try:
        with open(tmp, mode, opener=opener, **({} if "b" in mode else {"encoding": "utf-8"})) as f:
            yield f
            if fsync:
                f.flush()
                os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.remove(tmp)
        raise


def write_atomic(path, data, fsync=False, makedirs=True, perms=None):
    """Write ``data`` (bytes or str) to ``path`` atomically (``perms``: see ``atomic_open``)."""
    with atomic_open(path, "wb" if isinstance(data, (bytes, bytearray, memoryview)) else "w", fsync=fsync,
                     makedirs=makedirs, perms=perms) as f:
        f.write(data)


def write_json_atomic(path, data, indent=2, sort_keys=True):
    """Write ``data`` as JSON (and a final newline) to ``path`` atomically."""
    write_atomic(path, json.dumps(data, indent=indent, sort_keys=sort_keys) + "\n")


def _probe(folder, what, path):
    """Create and remove a file in ``folder``: the one honest test of "can I write here" (permissions,
    read-only mounts, root or not)."""
    try:
        with tempfile.NamedTemporaryFile(dir=folder, prefix=".edgepose-probe-"):
            pass
    except OSError as e:
        raise OutputError("%s %s: cannot write in %s (%s): choose another place"
                          % (what, path, folder, e.strerror or e))


def check_writable(path, what, folder=False):
    """Before long work starts: make sure ``path`` can be written, or raise ``OutputError`` naming
    ``what`` (the option, e.g. "--json") and the path, in one line.

    folder: ``path`` is an output folder (created when missing); otherwise a file (its missing parent
    folders are created; an existing folder of that name is refused). Returns ``path``.
    """
    path = os.fspath(path)
    target = os.path.abspath(path) if folder else os.path.dirname(os.path.abspath(path))
    if not folder and os.path.isdir(path):
        raise OutputError("%s %s: is a folder; give a file name" % (what, path))
    probe = target
    while not os.path.exists(probe):
        probe = os.path.dirname(probe)
    if not os.path.isdir(probe):
        raise OutputError("%s %s: %s is a file, not a folder" % (what, path, probe))
    try:
        os.makedirs(target, exist_ok=True)
    except OSError as e:
        raise OutputError("%s %s: cannot create the folder %s (%s)" % (what, path, target, e.strerror or e))
    _probe(target, what, path)
    if not folder and os.path.exists(path) and not os.access(path, os.W_OK):
        raise OutputError("%s %s: the file exists and cannot be overwritten (permissions)" % (what, path))
    return path
