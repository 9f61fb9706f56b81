# Anju — `make run` starts the whole system, `make test` proves it works.
# Needs only Python 3.11+, Node.js/npm and git. Everything else lands in .venv/ and node_modules/.

# Prefer python3.11 (the version Anju is developed on); any python3 >= 3.11 works.
PYTHON ?= $(shell command -v python3.11 2>/dev/null || command -v python3)
VENV := .venv
BIN := $(VENV)/bin
MANAGE := $(BIN)/python manage.py
# Stamp files: reinstall only when the file that lists the dependencies changed.
PY_STAMP := $(VENV)/.installed-pyproject
NODE_STAMP := node_modules/.installed-package-lock

.PHONY: run test lint check setup translations bench

## run: install what changed, migrate, seed the demo company once, serve on http://127.0.0.1:$PORT (8000)
run: setup
	$(MANAGE) migrate --noinput
	$(MANAGE) collectstatic --noinput --verbosity 0
	$(MANAGE) seed_demo --if-empty
	exec $(MANAGE) runstack

## test: the whole suite, browser tests included (pytest's "no tests collected", exit 5, fails too)
test: setup
	$(BIN)/pytest -p no:cacheprovider $(PYTEST_ARGS)

## lint: ruff lint and formatting, and the layers between apps (import-linter)
lint: $(PY_STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/lint-imports

## check: Django's deployment checklist with production-like settings
check: setup
	DEBUG=0 ANJU_SECURE_COOKIES=1 SECRET_KEY="$$($(BIN)/python -c 'import secrets; print(secrets.token_urlsafe(64))')" \
		$(MANAGE) check --deploy --fail-level WARNING

setup: $(PY_STAMP) $(NODE_STAMP) translations

$(PY_STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -c 'import sys; sys.exit("Anju needs Python 3.11+" if sys.version_info < (3, 11) else 0)'
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --disable-pip-version-check -e '.[dev]'
	touch $@

$(NODE_STAMP): package-lock.json
	npm ci --no-audit --no-fund
	touch $@

translations: $(PY_STAMP)
	$(MANAGE) compiletranslations

## bench: time the customer list against DESIGN.md's performance budget on a scratch PostgreSQL database
## (bench/README.md; not part of `make test`); e.g. make bench BENCH_ARGS="--customers 20000 --repeat 50"
bench: $(PY_STAMP)
	$(BIN)/python bench/customers_bench.py --fresh $(BENCH_ARGS)
