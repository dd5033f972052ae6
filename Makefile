# Two commands do all the set-up on a fresh machine with Python 3.11 and make:
#   make run   - solve the shipped default case and write results.nc
#   make test  - run the test suite
# Both install the exact versions of requirements.lock (make lock regenerates it);
# make test-latest runs the suite on the newest releases pyproject.toml allows.
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
PIP_VERSION := 26.3
SKLEARN_EXTRA := scikit-learn-extra==0.3.0
# extra pins for test-latest, e.g. make test-latest PIN="highspy==1.15.1"
PIN ?=

.PHONY: run test test-latest lock lint bench bench-large bench-ts docs clean

$(STAMP): pyproject.toml requirements.lock
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q pip==$(PIP_VERSION)
	$(BIN)/python -m pip install -q -r requirements.lock
	$(BIN)/python -m pip install -q --no-deps -e .
	# optional K-medoids backend: its wheels break under numpy >= 2, so build from source
	$(BIN)/python -m pip install -q --no-build-isolation --no-binary scikit-learn-extra \
		$(SKLEARN_EXTRA) || echo "warning: scikit-learn-extra did not build; its backend is off"
	touch $(STAMP)

# the lock: exact versions of flexnet's dependencies and the dev extra, for every platform
lock:
	$(PYTHON) -m venv .venv-lock
	.venv-lock/bin/python -m pip install -q uv
	.venv-lock/bin/uv pip compile pyproject.toml --extra dev --python-version 3.11 --universal \
		--no-annotate --header --upgrade -o requirements.lock

# drift on purpose: the suite on the newest releases pyproject.toml allows (not the lock)
test-latest:
	rm -rf .venv-latest
	$(PYTHON) -m venv .venv-latest
	.venv-latest/bin/python -m pip install -q --upgrade pip
	.venv-latest/bin/python -m pip install -q --upgrade --upgrade-strategy eager -e ".[dev]" $(PIN)
	.venv-latest/bin/python -m pip list --format=freeze | grep -iE "^(highspy|linopy|xarray|numpy|pandas|dask|scipy)=="
	.venv-latest/bin/python -m pytest -q -p no:cacheprovider

# PyPSA 1.4 (the peer of bench_ts.py) needs pandas >= 3, which the lock does not have:
# its own venv, on the same data exported by the benchmark
.venv-pypsa/.installed:
	$(PYTHON) -m venv .venv-pypsa
	.venv-pypsa/bin/python -m pip install -q "pypsa>=1.4,<1.5" psutil
	touch $@

bench-ts: $(STAMP) .venv-pypsa/.installed
	$(BIN)/python benchmarks/bench_ts.py

run: $(STAMP)
	$(BIN)/flexnet run --out results.nc --plots figures

test: $(STAMP)
	$(BIN)/python -m pytest -q

lint: $(STAMP)
	$(BIN)/ruff check flexnet tests benchmarks

bench: $(STAMP)
	$(BIN)/python benchmarks/bench_synthetic.py
	$(BIN)/python benchmarks/bench_centralized.py
	$(BIN)/python benchmarks/bench_clustering.py
	$(BIN)/python benchmarks/bench_admm.py
	$(BIN)/python benchmarks/bench_interval.py
	$(BIN)/python benchmarks/bench_nested.py
	$(BIN)/python benchmarks/bench_sweep.py

# the issue-7 target (2,000 TS buses x 500 feeders), synthetic and on ACTIVSg2000.
# The synthetic run stops at eps_abs 1e-2 MW: at 1e-3 its primal residual stalls at the
# resolution of the piecewise-linear proximal term (benchmarks/README.md)
bench-large: $(STAMP)
	$(BIN)/python benchmarks/bench_large.py --workers 2 --eps-abs 1e-2 --name large_eps1e-2
	$(BIN)/python benchmarks/bench_large.py --ts activsg2000 --eps-abs 1e-3 --name large_activsg

docs: $(STAMP)
	$(BIN)/python -c "from flexnet.grid.schema import schema_markdown as f; open('docs/schema.md', 'w').write(f())"
	$(BIN)/python -c "from flexnet.results import results_markdown as f; open('docs/results.md', 'w').write(f())"

clean:
	rm -rf $(VENV) .venv-latest .venv-lock results.nc figures .pytest_cache
