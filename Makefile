# `make run` starts the app, `make test` runs the tests; both set up .venv first when needed.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed
export HF_HUB_OFFLINE := 1
export TRANSFORMERS_OFFLINE := 1

.PHONY: run test lint validate index bench clean

$(STAMP): requirements.txt requirements-dev.txt
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet torch==2.13.0
	$(PY) -m pip install --quiet -r requirements.txt -r requirements-dev.txt
	touch $(STAMP)

# Loopback by default; `make run HOST=0.0.0.0` exposes the app to the network on purpose (see README, Security).
HOST ?= 127.0.0.1

run: $(STAMP)
	$(PY) -m streamlit run streamlit_app.py --server.address $(HOST)

test: $(STAMP)
	$(PY) -m pytest -n 2 --dist loadgroup

lint: $(STAMP)
	$(PY) -m ruff check .

index: $(STAMP)
	$(PY) -m simulator index

validate: $(STAMP)
	$(PY) -m simulator validate

bench: $(STAMP)
	$(PY) -m tools.bench

clean:
	rm -rf $(VENV) .pytest_cache .ruff_cache
