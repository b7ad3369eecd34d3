"""The bundled demo model (package data beside this module) and the function that finds it."""
import os

_HERE = os.path.dirname(os.path.abspath(__file__))

DEMO_MODEL = "edgepose-demo.onnx"
DEMO_PROFILE = "edgepose-demo"


def bundled_model():
    """``(path, profile name)`` of the bundled demo model, or ``(None, None)`` when it is not installed."""
    path = os.path.join(_HERE, DEMO_MODEL)
    return (path, DEMO_PROFILE) if os.path.isfile(path) else (None, None)
