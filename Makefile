# Two entry points a newcomer needs (both set themselves up on a fresh machine):
#   make demo   - the main job end to end on a built-in dataset
#   make test   - the default test suite (fast; `make test-slow` runs the slow marked tests)
PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed

.PHONY: setup demo test test-slow lint data browser clean

$(STAMP): pyproject.toml constraints.txt
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	$(BIN)/python -m pip install -q -c constraints.txt -e '.[train,hls4ml,dev]'
	touch $(STAMP)

setup: $(STAMP) data

# Fashion-MNIST from Debian (best effort: needs root and apt; cgap falls back to the bundled digits set).
data:
	@if [ ! -d /usr/share/datasets/fashion-mnist ] && command -v apt-get >/dev/null && [ "$$(id -u)" = 0 ]; then \
	  (apt-get update -qq && apt-get install -y -qq dataset-fashion-mnist) >/dev/null 2>&1 || \
	  echo "note: could not install dataset-fashion-mnist; the digits set will be used"; fi

# Headless Chromium for the slow report-rendering test (best effort, as for the data).
browser:
	@if ! command -v chromium >/dev/null && command -v apt-get >/dev/null && [ "$$(id -u)" = 0 ]; then \
	  (apt-get update -qq && apt-get install -y -qq chromium) >/dev/null 2>&1 || \
	  echo "note: could not install chromium; the report rendering test will be skipped"; fi

demo: setup
	$(BIN)/cgap demo --out runs/demo --force

test: setup
	$(BIN)/python -m pytest -q

test-slow: setup browser
	$(BIN)/python -m pytest -q -m slow

lint: $(STAMP)
	$(BIN)/ruff check cgap cgap_ir fpga_model tests benchmarks

clean:
	rm -rf $(VENV) runs generated/*/
