"""edgepose: BodyPoseNet pose estimation on Jetson, with fall and posture alerts.

``import edgepose`` needs only numpy and PyYAML; ONNX Runtime, OpenCV, TensorRT and pycuda are
imported lazily by the modules that use them.
"""
__version__ = "0.1.0"
