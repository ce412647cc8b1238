# cargoguard: the two commands of a fresh machine.
#   make run   the embedded default with simulated traffic (broker, topics, worker, alerts)
#   make test  the whole test suite but the fault tests (under 15 minutes here)
#   make test-faults  the fault tests (broker paused 30 s, hostile input, a burst); CI runs both
# Both create .venv and install what they need (and, for tests, Debian's
# chromium and prometheus when they are missing and apt-get is available).

PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: run test test-faults lint bench clean

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e ".[dev]"
	touch $(STAMP)

run: $(STAMP)
	$(BIN)/cargoguard up --demo

test: $(STAMP) system-packages
	$(BIN)/ruff check streams agents schemas tests
	$(BIN)/mypy
	$(BIN)/pytest -q -m "not faults"

test-faults: $(STAMP)
	$(BIN)/pytest -q -m faults

lint: $(STAMP)
	$(BIN)/ruff check streams agents schemas tests
	$(BIN)/mypy

bench: $(STAMP)
	$(BIN)/cargoguard bench

# Real browser and real Prometheus for the web and metrics tests.
.PHONY: system-packages
system-packages:
	@if ! command -v chromium >/dev/null || ! command -v prometheus >/dev/null; then \
		if command -v apt-get >/dev/null; then \
			SUDO=$$( [ "$$(id -u)" = 0 ] || echo sudo ); \
			$$SUDO apt-get update -qq && \
			DEBIAN_FRONTEND=noninteractive $$SUDO apt-get install -y -qq chromium prometheus >/dev/null; \
		else echo "chromium/prometheus missing and no apt-get: their tests will be skipped"; fi; \
	fi

clean:
	rm -rf $(VENV) .cargoguard .pytest_cache .ruff_cache .mypy_cache *.egg-info
