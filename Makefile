# The two commands of the README: `make run` and `make test`. Everything else serves them.
SHELL := /bin/bash
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed

# Test services on localhost (override per checkout to run suites side by side).
DB_NAME ?= app_connections
REDIS_DB ?= 1
BROKER_DB ?= 2
PG_URL ?= postgres://postgres@127.0.0.1:5432
REDIS_HOST ?= redis://127.0.0.1:6379
ARGS ?=

random_key = $(shell $(PYTHON) -c "import base64,os;print(base64.b64encode(os.urandom(32)).decode())")
TEST_ENV = ENV_FILE=/dev/null DEBUG=false TESTING=true SANDBOX_ENABLED=true \
	SECURE_SSL_REDIRECT=false SECURE_COOKIES=false BEHIND_PROXY=false ALLOWED_HOSTS='*' \
	SECRET_KEY=test-$(random_key) VAULT_KEYS=test1:$(random_key) \
	DATABASE_URL=$(PG_URL)/$(DB_NAME) REDIS_URL=$(REDIS_HOST)/$(REDIS_DB) \
	CELERY_BROKER_URL=$(REDIS_HOST)/$(BROKER_DB) CACHE_KEY_PREFIX=test-$(DB_NAME) \
	PYTHONDONTWRITEBYTECODE=1

.PHONY: run test bench pytest install setup lock clean check icons

$(STAMP): requirements.lock pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --disable-pip-version-check --upgrade "pip>=24"
	$(PY) -m pip install --quiet --disable-pip-version-check -r requirements.lock
	touch $(STAMP)

install: $(STAMP)

.env:
	@echo "Writing .env for development (DEBUG on, sandbox on, SQLite, filesystem broker)."
	@printf 'DEBUG=true\nSANDBOX_ENABLED=true\nBASE_URL=http://localhost:8000\n' > .env

setup: $(STAMP) .env
	$(PY) manage.py migrate --noinput
	$(PY) manage.py createcachetable
	$(PY) manage.py sync_catalog
	$(PY) manage.py seed_demo

# honcho gets --env /dev/null: Django reads .env itself, and variables set in the shell must win.
run: setup
	@echo "Starting the web server, a Celery worker and beat (Ctrl-C stops them all)."
	@echo "Sign in at http://localhost:$${WEB_PORT:-8000}/accounts/login/ with a demo login printed by seed_demo."
	$(VENV)/bin/honcho start --env /dev/null -f Procfile.dev

test: $(STAMP)
	@echo "pytest $(ARGS) (PostgreSQL $(DB_NAME), Redis db $(REDIS_DB))"
	@$(TEST_ENV) $(PY) -m pytest $(ARGS)

# One suite or file at a time: make pytest ARGS="tests/vault -x" DB_NAME=ac_vault REDIS_DB=5 BROKER_DB=6
pytest: test

# make bench [ARGS="tests/bench/test_x.py"]: all benchmarks, or only the paths given in ARGS.
bench: $(STAMP)
	@$(TEST_ENV) $(PY) -m pytest $(if $(filter tests/%,$(ARGS)),,tests/bench) -p no:randomly -s -q --no-header -o addopts="" -o norecursedirs="" --timeout=0 $(ARGS)

check: $(STAMP)
	@$(TEST_ENV) $(PY) manage.py check

# Rewrite static/brands/ from simple-icons-pack after adding apps (the SVGs are committed).
icons: $(STAMP)
	@$(TEST_ENV) $(PY) manage.py vendor_brand_icons

lock:
	rm -rf /tmp/lock-venv && $(PYTHON) -m venv /tmp/lock-venv
	/tmp/lock-venv/bin/pip install --quiet ".[dev]"
	/tmp/lock-venv/bin/pip freeze --exclude app-connections | sort > requirements.lock

clean:
	rm -rf $(VENV) staticfiles
