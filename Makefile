# edgepose: the two set-up commands are `make demo` and `make test`.
PY ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: venv demo test bench device-check clean

$(STAMP): pyproject.toml
	$(PY) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	$(BIN)/python -m pip install -q -e '.[dev]'
	touch $(STAMP)

venv: $(STAMP)

demo: $(STAMP)
	$(BIN)/python tools/demo.py --out demo-output

test: $(STAMP)
	$(BIN)/python -m pytest -q

bench: $(STAMP)
	$(BIN)/python tools/bench.py

# On a Jetson: venv with --system-site-packages (JetPack's tensorrt and cv2), then the gpu tests.
device-check:
	$(PY) -m venv --system-site-packages $(VENV)-device
	$(VENV)-device/bin/python -m pip install -q -e '.[jetson]' pytest
	$(VENV)-device/bin/python -m pytest -q -m gpu tests/gpu

clean:
	rm -rf $(VENV) $(VENV)-device demo-output build *.egg-info
