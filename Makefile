# Two commands on a fresh Debian/Ubuntu machine with Python 3.11:
#   make demo   -> installs everything, builds a small real dataset, runs ce2nce on it
#   make test   -> installs everything, runs the test suite
#   make test-fast -> the unit tier only (tests not marked slow; a few minutes)
# and, to package the shipped default model from its kept training chunk, with its held-out
# tables (docs/default_model.md):
#   make default-model
# and to train the full-resolution models on real pairs (docs/full_resolution_model.md):
#   make full-resolution-model
# and the HTML documentation (Sphinx, warnings as errors) into docs/_build/html:
#   make docs
# Both create .venv (pinned packages; torch 2.13.0 CPU where the machine provides it; Clinica
# 0.12.0, the clinica extra, so that the tests of `ce2nce-clinica` run) and the Debian packages
# mricron-data (Colin27), graphviz (the documentation's graph) and chromium (the reports'
# browser tests), asking sudo for apt-get when not root.
# The container image (docs/containers.md), built offline with podman from a debootstrapped
# Debian 12 and the wheels fetched here (both cached in ~/.cache/ce2nce/containers):
#   make container-image  -> localhost/ce2nce:latest
#   make container-test   -> builds it and runs it on a small dataset against a run outside
#                            (its cost, first and cached: docs/containers.md)

PYTHON ?= python3
VENV ?= .venv
SUDO := $(shell [ "$$(id -u)" = 0 ] || echo sudo)
COLIN27 := /usr/share/mricron/templates/ch2.nii.gz

.PHONY: demo test test-fast install system-deps lint default-model full-resolution-model docs \
	container-deps container-image container-test

$(VENV)/.installed: setup.cfg pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(VENV)/bin/pip install --quiet --upgrade pip
	$(VENV)/bin/pip install --quiet -e '.[test,clinica]'
	touch $@

install: $(VENV)/.installed system-deps

# chromium: the browser tests of the reports (tests/reports/test_browser.py; ~100 MB, ~1 min).
system-deps:
	@test -f $(COLIN27) -a -x /usr/bin/dot && command -v chromium >/dev/null || { \
		$(SUDO) apt-get update -qq && \
		$(SUDO) env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends \
		mricron-data graphviz chromium; }

demo: install
	$(VENV)/bin/ce2nce-demo demo_output

test: install
	$(VENV)/bin/pytest -q -n 2 --dist loadfile --durations=10

test-fast: install
	$(VENV)/bin/pytest -q -m "not slow" --durations=10

default-model: install
	bash workflows/full_resolution_model/package_default.sh

full-resolution-model: install
	bash workflows/full_resolution_model/build.sh

docs: install
	$(VENV)/bin/python -m sphinx -W -b html docs docs/_build/html

lint: install
	$(VENV)/bin/ruff check ce2nce_pipeline tests benchmarks containers

container-deps:
	@command -v podman >/dev/null && command -v runc >/dev/null && command -v debootstrap >/dev/null \
		|| { $(SUDO) apt-get update -qq && $(SUDO) env DEBIAN_FRONTEND=noninteractive \
		apt-get install -y -qq --no-install-recommends podman runc debootstrap; }

container-image: install container-deps
	$(SUDO) env PYTHON=$(PYTHON) bash containers/build.sh localhost/ce2nce:latest

container-test: install container-deps
	$(SUDO) env PYTHON=$(abspath $(VENV))/bin/python bash containers/test.sh
