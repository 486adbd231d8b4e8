# Two commands on a fresh machine with only Python 3.11+ and make:
#   make run    create .venv, install the project, run the full demo (python run_all.py)
#   make test   same environment, lint, then the whole test suite (what CI runs; its UI tests
#               need Debian's Chromium: sudo apt-get install chromium, as .ci/run does)
# For the edit-test loop: make test-fast (no training, no servers, no subprocesses; seconds).
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
SPARK_STAMP := $(VENV)/.installed-spark

.PHONY: run test test-fast lint bench install clean ui ui-check ui-docs serve

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --upgrade pip
	$(BIN)/python -m pip install -e ".[test,ui,postgres]"
	touch $(STAMP)

# the tests also cover the Spark engine: PySpark (an optional extra) comes with them
$(SPARK_STAMP): $(STAMP)
	$(BIN)/python -m pip install -e ".[test,ui,postgres,spark]"
	touch $(SPARK_STAMP)

install: $(STAMP)

run: $(STAMP)
	$(BIN)/python run_all.py

# Two workers (the CI machine's cores), one test file per worker at a time: the long
# subprocess tests (mlflow run, a real server) run while the other worker does the rest.
test: lint $(SPARK_STAMP)
	$(BIN)/python -m pytest -n 2 --dist loadfile --durations=25

test-fast: $(STAMP)
	$(BIN)/python -m pytest -m "not slow and not server and not subprocess" -q

lint: $(STAMP)
	$(BIN)/ruff check src tests benchmarks scripts run_all.py

bench: $(SPARK_STAMP)
	$(BIN)/python benchmarks/run_benchmarks.py
	$(BIN)/python benchmarks/bench_generator.py
	$(BIN)/python benchmarks/bench_scale.py
	$(BIN)/python benchmarks/bench_slices.py
	$(BIN)/python benchmarks/bench_impact.py

ui: $(STAMP)
	$(BIN)/mlflow ui --backend-store-uri sqlite:///mlflow.db

# The read-only service over the demo store: dashboard at http://127.0.0.1:8765/, API docs at
# /docs, Prometheus metrics at /metrics (make serve [HOST=0.0.0.0] [PORT=8765]).
serve: $(STAMP)
	$(BIN)/python -m pipelines.serve $(if $(HOST),--host $(HOST)) $(if $(PORT),--port $(PORT))

# What a reviewer sees: `mlflow ui` over the demo store (run `make run` first), each of the
# reviewer's pages opened in headless Chromium and saved as OUT/<page>.png once it shows its
# content (the run names, descriptions, report, versions, aliases); a page still loading
# after TIMEOUT seconds is saved as OUT/<page>-FAILED.png and fails the check.
#   make ui-check [OUT=ui-check] [TIMEOUT=120]  screenshots into OUT (not tracked)
#   make ui-docs                                 the same, then the passing set into docs/ui/
# Needs Debian's Chromium: sudo apt-get install chromium (/usr/bin/chromium; Playwright
# downloads nothing).
OUT ?= ui-check
TIMEOUT ?= 120
UI_CHECK = $(BIN)/python scripts/ui_check.py --out "$(OUT)" --timeout $(TIMEOUT)

ui-check: $(STAMP)
	@test -x /usr/bin/chromium || { echo "Install Chromium first: sudo apt-get install chromium"; exit 1; }
	@test -f mlflow.db || { echo "No demo store here: run 'make run' first"; exit 1; }
	$(UI_CHECK)

ui-docs: $(STAMP)
	@test -x /usr/bin/chromium || { echo "Install Chromium first: sudo apt-get install chromium"; exit 1; }
	@test -f mlflow.db || { echo "No demo store here: run 'make run' first"; exit 1; }
	$(UI_CHECK) --docs

clean:
	rm -rf $(VENV) mlflow.db mlartifacts mlruns monitoring ui-check
