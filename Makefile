# Two entry points for a fresh machine: `make index VIDEOS=~/Videos` and `make test`.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
VIDEOS ?= $(HOME)/Videos

.PHONY: install index test test-fast test-other-python system-deps lint

$(BIN)/vidseek: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[test]'
	touch $@

install: $(BIN)/vidseek

# Index a folder on the embedded default store (SQLite + FAISS files in ~/.local/share/vidseek).
index: install
	$(BIN)/vidseek index "$(VIDEOS)"
	$(BIN)/vidseek status

# What the tests need from the system: espeak-ng for real speech, Chromium for the browser test,
# a PostgreSQL server for the tests of the library on PostgreSQL, a CJK font for the Chinese
# on-screen text the OCR tests render.
SYSTEM_PACKAGES := espeak-ng chromium chromium-driver postgresql fonts-wqy-zenhei
system-deps:
	@command -v espeak-ng >/dev/null && command -v chromium >/dev/null && command -v chromedriver >/dev/null && \
	  ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1 && \
	  test -f /usr/share/fonts/truetype/wqy/wqy-zenhei.ttc || \
	  { [ "$$(id -u)" = 0 ] && apt-get update -qq && \
	    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $(SYSTEM_PACKAGES) >/dev/null; } || \
	  { echo "install $(SYSTEM_PACKAGES) (as root: make system-deps)"; exit 1; }

lint: install
	$(BIN)/ruff check vidseek indexer search web migrations tests bench

test: system-deps install lint
	$(BIN)/pytest -q

# The tests not marked slow (no real Whisper, browser, PostgreSQL, Ray, schemathesis or kill
# loops): for the edit-test loop; `make test` stays the whole suite, as CI runs it.
test-fast: system-deps install lint
	$(BIN)/pytest -q -m "not slow"

# The package claims Python 3.11 and 3.12 (pyproject.toml); `make test` runs on PYTHON (3.11 here),
# this runs the tests not marked slow on 3.12 in a venv of its own.
# The first python3.12 that runs (a pyenv shim on PATH may name one that is not selected).
PYTHON_OTHER ?= $(shell for p in $(HOME)/.pyenv/versions/3.12*/bin/python3.12 python3.12; do \
	  $$p -c 'import sys; assert sys.version_info[:2] == (3, 12)' 2>/dev/null && echo $$p && break; done)
test-other-python: system-deps
	@test -n "$(PYTHON_OTHER)" || { echo "no python3.12 found: set PYTHON_OTHER"; exit 1; }
	$(MAKE) test-fast PYTHON=$(PYTHON_OTHER) VENV=.venv-3.12
