# Set-up on a fresh machine: `make demo` (main job) and `make test` (tests) install what they need.
PYTHON ?= python3
VENV   := .venv
PY     := $(VENV)/bin/python
PIP    := $(PY) -m pip
EXTRAS ?= edit,data,train,bench,serve,dev
STAMP  := $(VENV)/.installed-$(EXTRAS)
export OMP_WAIT_POLICY ?= PASSIVE

.PHONY: install demo test bench lint clean

install: $(STAMP)

$(STAMP): pyproject.toml constraints.txt
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PIP) install -q --upgrade pip
	# torch first and pinned: a looser request would pull a CUDA build of several GB
	$(PIP) install -q torch==2.13.0
	$(PIP) install -q -c constraints.txt -e ".[$(EXTRAS)]"
	touch $@

demo: install
	$(VENV)/bin/editlab demo --out demo-output

test: install
	$(PY) -m pytest -q
	$(VENV)/bin/lint-imports

bench: install
	$(PY) benchmarks/run_all.py --out benchmarks/results

lint: install
	$(PY) -m ruff check src tests benchmarks
	$(VENV)/bin/lint-imports

clean:
	rm -rf $(VENV) demo-output .pytest_cache
