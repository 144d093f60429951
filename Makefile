# Two commands for a fresh machine (see README): `make run` and `make test`.
# torch is installed first, on its own, so pip takes the CPU build (torch==2.13.0) instead of
# resolving sentence-transformers' torch requirement to a multi-GB CUDA build.
# Each step says what it does and how long it took on 2 cores with the wheels at hand (a first
# download adds to steps 2 and 3), so no stretch of the 1.5 minutes is silent.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
DEV_STAMP := $(VENV)/.installed-dev

.PHONY: setup run test lint clean

$(STAMP): pyproject.toml
	@echo "setup 1/4: a virtual environment in $(VENV), with a current pip (about 6 s)"
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	@echo "setup 2/4: CPU torch 2.13.0 (about 30 s)"
	$(BIN)/pip install --quiet torch==2.13.0
	@echo "setup 3/4: newsbot and its packages, with the Milvus backend's for its tests (about 55 s)"
	$(BIN)/pip install --quiet -e '.[test,milvus]'
	@echo "setup 4/4: the bundled model, converted once and compiled for OpenVINO (about 20 s the first time on a machine, then 2 s)"
	$(BIN)/python -c "from settings import Settings; from retrieval.encoder import load_encoder; s = Settings(); load_encoder(s.model, s.model_cache, backend=s.encoder_backend); print('model ready in', s.model_cache)"
	touch $(STAMP)
	@echo "setup done: $(VENV) is ready"

setup: $(STAMP)

run: setup
	$(BIN)/newsbot run

test: setup
	$(BIN)/python -m pytest -q

$(DEV_STAMP): $(STAMP)
	$(BIN)/pip install --quiet -e '.[test,milvus,dev]'
	touch $(DEV_STAMP)

# ruff over the whole tree (rules and formatting), mypy over what pyproject.toml's [tool.mypy]
# files lists; the layering rules are a test (tests/test_architecture.py).
lint: $(DEV_STAMP)
	$(BIN)/python -m ruff check .
	$(BIN)/python -m ruff format --check .
	$(BIN)/python -m mypy

clean:
	rm -rf $(VENV) build *.egg-info
