# make check: set up, then check all three stacks offline.  make test: set up, then every test.
VENV ?= .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed

.PHONY: setup bytecode check test lint typecheck unit bench clean diff

setup: $(STAMP)

$(STAMP): pyproject.toml
	test -x $(PY) || python3 -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip==26.3
	$(PY) -m pip install --quiet -e '.[dev]'
	touch $(STAMP)

# The project is installed editable, so pip byte-compiles only its dependencies; compile the project too
# (only what changed), or every run recompiles it where PYTHONDONTWRITEBYTECODE is set (our build machines set it).
PACKAGES := infra stackconfig components stacks residency policies bench
bytecode: setup
	$(PY) -m compileall -q $(PACKAGES) __main__.py >/dev/null

check: bytecode
	$(VENV)/bin/infra check

lint: setup
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .

typecheck: setup
	$(VENV)/bin/mypy .

# Tests side by side on pytest-xdist, one worker per core (README, Tests); TEST_WORKERS=0 runs them in one process.
# --dist loadgroup is in pyproject's addopts: a worker runs each xdist group (tests/conftest.py) whole.
TEST_WORKERS ?= auto
unit: setup
	$(PY) -m pytest -q -n $(TEST_WORKERS)

test: lint typecheck unit

# make diff BASE=origin/main: what the working tree changes in every stack (see README, infra diff).
BASE ?= origin/main
diff: setup
	$(VENV)/bin/infra diff $(BASE)

bench: bytecode
	$(PY) -m bench

clean:
	rm -rf $(VENV) build *.egg-info
