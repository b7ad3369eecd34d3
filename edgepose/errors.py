"""The exceptions a user can act on.

Every ``EdgeposeError`` carries a one-line message that names the file, key or device and says how to
fix it. The CLI prints the message alone (no traceback) and exits with ``exit_code``: 2 for usage and
configuration mistakes, 1 for everything else.
"""


class EdgeposeError(Exception):
    """Base class: a problem the user can fix; the message is shown as is."""

    exit_code = 1


class UsageError(EdgeposeError):
    """Bad command-line arguments."""

    exit_code = 2


class ConfigError(EdgeposeError):
    """A bad configuration or profile value; the message names the key path."""

    exit_code = 2


class ProfileError(ConfigError):
    """A model profile that cannot be loaded or does not match the model."""


class ModelError(EdgeposeError):
    """A model file that is missing, unreadable, or has unexpected inputs/outputs."""


class InputError(EdgeposeError):
    """Bad input data: an unreadable image, maps of the wrong shape, NaN/Inf values."""


class OutputError(EdgeposeError):
    """An output file or folder that cannot be written (checked before the work starts)."""


class SourceError(EdgeposeError):
    """A camera, stream, file or directory that cannot be opened or read."""


class BackendError(EdgeposeError):
    """An inference backend that cannot be created or run."""


class DependencyError(EdgeposeError):
    """An optional library (TensorRT, pycuda, OpenCV with GStreamer, paho-mqtt) is missing."""


class EngineError(EdgeposeError):
    """A TensorRT engine that cannot be built, or whose sidecar disagrees with this device."""


class SinkError(EdgeposeError):
    """An alert sink that is misconfigured."""
