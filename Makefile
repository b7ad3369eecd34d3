# edgepose: the two set-up commands are `make demo` and `make test`.
PY ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: venv demo test test-deps bench device-check clean

$(STAMP): pyproject.toml
	$(PY) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	$(BIN)/python -m pip install -q -e '.[dev]'
	touch $(STAMP)

venv: $(STAMP)

demo: $(STAMP)
	$(BIN)/python tools/demo.py --out demo-output

# The MQTT tests need a real broker: Debian's mosquitto, installed here when missing (tests skip
# loudly when it cannot be installed).
test-deps:
	@command -v mosquitto >/dev/null 2>&1 || test -x /usr/sbin/mosquitto || { \
	  if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then \
	    echo "installing mosquitto (Debian package) for the MQTT tests"; \
	    (apt-get install -y -q mosquitto >/dev/null 2>&1 || { apt-get update -q >/dev/null 2>&1 && apt-get install -y -q mosquitto >/dev/null 2>&1; }) \
	      || echo "WARNING: could not install mosquitto: the MQTT broker tests will be skipped"; \
	  else echo "WARNING: mosquitto missing and not root: the MQTT broker tests will be skipped (apt-get install mosquitto)"; fi; }

test: $(STAMP) test-deps
	$(BIN)/python -m pytest -q

bench: $(STAMP)
	$(BIN)/python tools/bench.py

# On a device: venv with --system-site-packages (JetPack's tensorrt and cv2), the self-test (one PASS/FAIL/SKIP
# line per item, tools/device_check.py), then the gpu-marked tests, which only run with EDGEPOSE_GPU_TESTS=1.
# Offline: `python3 tools/device_check.py` needs no pip (tools/DEVICE_RUN.md).
device-check:
	$(PY) -m venv --system-site-packages $(VENV)-device
	$(VENV)-device/bin/python -m pip install -q -e '.[jetson]' pytest
	$(VENV)-device/bin/python tools/device_check.py
	EDGEPOSE_GPU_TESTS=1 $(VENV)-device/bin/python -m pytest -q -m gpu tests/gpu

clean:
	rm -rf $(VENV) $(VENV)-device demo-output build *.egg-info
