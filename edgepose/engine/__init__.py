"""TensorRT engine build: ONNX -> engine + JSON sidecar, INT8 calibration, Q/DQ quantization.

Modules: ``trt`` (the lazy TensorRT/pycuda seam, version capabilities, logger bridge), ``builder``
(``build_engine``), ``calibrator`` (calibration images -> batches -> ``IInt8EntropyCalibrator2``),
``quantize`` (ONNX Runtime static Q/DQ quantization), ``sidecar`` (engine metadata + runtime check,
no tensorrt import), ``calibset`` (``edgepose calib collect``). Importing this package imports neither
tensorrt nor pycuda.
"""
