# The two commands a newcomer needs (see README.md):
#   make run    set up and start the app on the embedded default (SQLite, in-process sweeper, demo data)
#   make test   set up and run the whole test suite (SQLite and PostgreSQL side by side; Redis, Celery, Prefect, chromium)
VENV ?= .venv
PYTHON ?= python3
PY := $(VENV)/bin/python

.PHONY: setup run test
setup: $(VENV)/.installed

$(VENV)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e '.[test,prod]'
	touch $@

run: setup
	$(VENV)/bin/creditdesk serve

test: setup
	bash scripts/test.sh
