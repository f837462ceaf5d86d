# Two commands: `make demo` (the smoke study end to end) and `make test` (the test suite).
# Both create .venv when it is missing and install the project into it.
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
# torch and torchvision pinned to the builds this project is developed and tested with
TORCH := torch==2.14.1 torchvision==0.29.1
OUT ?= runs/smoke
PYTEST_ARGS ?=

.PHONY: demo test test-slow test-all lint bench-gpu clean

$(VENV)/.installed: pyproject.toml
	@test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q $(TORCH)
	$(PY) -m pip install -q -e '.[dev]'
	@touch $@

# --resume: a second `make demo` finds the finished study and only re-makes the report
# (`make clean` starts over)
demo: $(VENV)/.installed
	$(VENV)/bin/rotsweep run conf/studies/smoke.yaml --out $(OUT) --resume
	$(VENV)/bin/rotsweep report $(OUT)

test: $(VENV)/.installed
	$(PY) -m pytest -m "not slow" $(PYTEST_ARGS)

test-slow: $(VENV)/.installed
	$(PY) -m pytest -m slow $(PYTEST_ARGS)

test-all: $(VENV)/.installed
	$(PY) -m pytest $(PYTEST_ARGS)

lint: $(VENV)/.installed
	$(VENV)/bin/ruff check .

# on a CUDA machine: saliency engine (bf16, tf32) vs the model and captum, one MoCo epoch,
# ResNet-50 at 224 px, under 5 minutes; one JSON line (bench/gpu.py --device cpu --quick on a CPU)
bench-gpu: $(VENV)/.installed
	$(PY) bench/gpu.py

clean:
	rm -rf runs .pytest_cache .ruff_cache
