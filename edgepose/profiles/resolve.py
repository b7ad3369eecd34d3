"""THE resolver: which model file to run and with which ``Profile``, from what the user gave.

Every entry point (CLI commands, the daemon, ``Pipeline``, tools) calls ``resolve_model``, so they
agree on the defaults and say the same thing when something is missing.
"""
import logging
import os

from .. import models
from ..backends import ENGINE_SUFFIXES
from ..errors import ModelError, ProfileError, UsageError
from . import load_profile

log = logging.getLogger(__name__)


_warned = []


CLI_FIX = "use --model YOUR.onnx (a TAO BodyPoseNet: --profile tao-bpnet) or --engine E.engine --profile P"


def bundled_model_warning(inputs, fix=CLI_FIX):
    """The one-line warning for the bundled demo model run on ``inputs`` (URIs, paths), or None when
    every input is synthetic (written by ``edgepose synth``) or there is no input to judge. fix: how
    to give a real model, in the words of where it is given (flags, config keys)."""
    from ..synth.provenance import is_synthetic

    real = [str(u) for u in inputs or () if isinstance(u, (str, os.PathLike)) and not is_synthetic(u)]
    if not real:
        return None
    shown = real[0] if len(real) == 1 else "%s (and %d more)" % (real[0], len(real) - 1)
    return ("the bundled demo model knows only synthetic figures (edgepose synth): the people it finds in %s are "
            "not real detections; %s" % (shown, fix))


def resolve_model(model=None, engine=None, profile=None, size=None, inputs=None):
    """``(path, Profile)`` to run.

    model: an ONNX model (or an engine, told by its suffix .engine/.plan/.trt); engine: a TensorRT
    engine. At most one of them; neither: the bundled demo model with its profile.
    profile: built-in name, YAML path or ``Profile``. None: for an ONNX model the built-in profile
    whose inputs/outputs match it (one made for the model's own input size first); for an engine the
    profile recorded in its JSON sidecar. size: network input ``(H, W)`` instead of the profile's.
    inputs: what the model will run on (source URIs, image paths): when the bundled demo model is
    chosen and any of them is not synthetic, a warning says so, once per process.
    """
    if model and engine:
        raise UsageError("give a model or an engine, not both")
    path = engine or model
    if not path:
        path, default_profile = models.bundled_model()
        if path is None:
            raise UsageError("no --model given and the bundled demo model is not installed: pass --model M.onnx")
        profile = profile or default_profile
        note = bundled_model_warning(inputs)
        if note and not _warned:
            _warned.append(note)
            log.warning("%s", note)
    path = os.fspath(path)
    if profile is not None:
        prof = load_profile(profile)
    elif engine or path.lower().endswith(ENGINE_SUFFIXES):
        prof = _profile_of_engine(path)
    else:
        prof = _profile_of_onnx(path)
    if size:
        prof = prof.with_size(tuple(size))
    return path, prof


def _profile_of_onnx(path):
    from .match import guess_profiles, size_fits

    ins, _, fits = guess_profiles(path)
    ok = [name for name, why in fits.items() if not why]
    if not ok:
        raise ProfileError("%s: no built-in profile matches this model: pass --profile NAME or a profile YAML "
                           "(`edgepose inspect %s` says why)" % (path, path))
    ok.sort(key=lambda name: not size_fits(ins, load_profile(name)))  # stable: built-in order otherwise
    if len(ok) > 1:
        log.info("%s matches profiles %s; using %s", path, ", ".join(ok), ok[0])
    else:
        log.info("%s: using profile %s (matches the model's inputs/outputs)", path, ok[0])
    return load_profile(ok[0])


def _profile_of_engine(path):
    from ..engine.sidecar import read_sidecar
    from ..errors import EdgeposeError

    if not os.path.isfile(path):
        raise ModelError("%s: engine file not found (build one with `edgepose build MODEL.onnx --profile P`)" % path)
    try:
        name = read_sidecar(path).get("profile")
    except EdgeposeError:
        name = None
    if not name:
        raise ProfileError("%s: a TensorRT engine needs --profile (the profile of the ONNX it was built from)" % path)
    log.info("%s: using profile %s (from its sidecar)", path, name)
    return load_profile(name)
