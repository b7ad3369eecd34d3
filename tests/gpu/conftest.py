import os
import sys

# tests/ on the path for tiny_bpnet and the shared helpers.
sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
