# studybuild — two commands on a fresh machine with python3 and make:
#   make demo   create .venv, install, run the whole pipeline on both simulated studies
#   make test   create .venv, install, run the whole test suite
#   make docs   rebuild the demo in a temp folder, regenerate the outputs README and docs/ show
PYTHON ?= python3
VENV   := .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.installed
OUT    ?= demo-out

.PHONY: demo test docs bench install clean

$(STAMP): pyproject.toml constraints.txt
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -c constraints.txt -e ".[test]"
	touch $(STAMP)

install: $(STAMP)

demo: $(STAMP)
	$(VENV)/bin/studybuild demo --out $(OUT)

test: $(STAMP)
	$(PY) -m pytest -q

docs: $(STAMP)
	$(PY) tools/make_docs.py

bench: $(STAMP)
	$(PY) bench/run.py

clean:
	rm -rf $(VENV) $(OUT) .pytest_cache .hypothesis
