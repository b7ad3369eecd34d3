"""Fake ``tensorrt`` and ``pycuda`` modules for logic tests. Test-only: the package never imports these."""
