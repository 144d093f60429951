# Two commands for a fresh machine (see README): `make run` and `make test`.
# torch is installed first, on its own, so pip takes the CPU build (torch==2.13.0) instead of
# resolving sentence-transformers' torch requirement to a multi-GB CUDA build.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: setup run test lint clean

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet torch==2.13.0
	$(BIN)/pip install --quiet -e '.[test]'
	$(BIN)/python -c "from settings import Settings; from retrieval.encoder import load_encoder; s = Settings(); load_encoder(s.model, s.model_cache, backend=s.encoder_backend); print('model ready in', s.model_cache)"
	touch $(STAMP)

setup: $(STAMP)

run: setup
	$(BIN)/newsbot run

test: setup
	$(BIN)/python -m pytest -q

lint: setup
	$(BIN)/pip install --quiet -e '.[test,dev]'
	$(BIN)/python -m ruff check . && $(BIN)/python -m mypy retrieval index handlers bot.py cli.py library.py settings.py fetch.py

clean:
	rm -rf $(VENV) build *.egg-info
