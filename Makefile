# The README's two commands: `make demo` and `make test`. Both set themselves up first.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: setup r browser venv lint test test-fast test-lanes demo bench bench-scale example-inthout docs clean

setup: r browser venv

r:
	@bash scripts/setup-r.sh

browser:
	@bash scripts/setup-chromium.sh

venv: $(STAMP)

# Re-installs only when pyproject.toml changes, so a second `make setup` takes seconds.
# The script asks R its version and installs the rpy2 that loads into it.
$(STAMP): pyproject.toml scripts/setup-venv.sh
	@PYTHON=$(PYTHON) bash scripts/setup-venv.sh $(VENV)
	@touch $(STAMP)

# ruff's linter and formatter, as configured in pyproject.toml.
lint: venv
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

test: setup lint
	$(BIN)/python -m pytest -q

# The tests that need no R, run with R hidden (a test that needs R and is not marked requires_r fails).
test-fast: venv lint
	bash scripts/without-r.sh $(BIN)/python -m pytest -q -m "not requires_r"

# The whole suite in each lane (scripts/lanes/lanes.txt): Debian bookworm, trixie and sid roots with
# their own R, metafor, rpy2, Python and pandas, built once under ~/.cache/ketabridge-lanes.
test-lanes:
	@bash scripts/lanes/run.sh

# The CRPS ketamine case study: summary on screen, tables, plots and report.html in ketabridge-out/.
demo: r venv
	$(BIN)/ketabridge run --out ketabridge-out

# The documentation site (Sphinx: numpydoc docstrings, the CLI from click, the README's sections) in
# build/docs; -W: a warning (a broken reference, a malformed docstring) fails the build.
docs: venv
	$(BIN)/python -m sphinx -W --keep-going -b html -q docs build/docs
	@echo "open build/docs/index.html"

bench: setup
	$(BIN)/python bench/bench_bridge.py
	$(BIN)/python bench/bench_batch.py --analyses 500 --scaling 2000 --memory 20000
	$(BIN)/python bench/bench_fast.py --analyses 1000 --metafor-analyses 200 --repeats 1
	$(BIN)/python bench/bench_rma_mv.py 5 1000 1

# the fast engine at simulation scale (issue 17): 10k / 100k / 1M analyses, whole process, from Parquet
bench-scale: setup
	$(BIN)/python bench/bench_scale.py --sizes 10000 100000 1000000 --workers 1 --metafor-analyses 1000

# the IntHout, Ioannidis & Borm (2014) simulation study, full grid (75 conditions x 10,000 replications)
example-inthout: setup
	$(BIN)/python examples/inthout2014.py --metafor-sample 500

clean:
	rm -rf $(VENV) build dist *.egg-info ketabridge-out
