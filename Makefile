# Two commands matter: `make demo` runs the appliance locally, `make test` runs every check.
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
DEV_STAMP := $(VENV)/.dev-installed
TRAIN_STAMP := $(VENV)/.train-installed

.PHONY: demo-loop install uninstall test lint typecheck pytest venv venv-train models evaluate bench demo clean system-deps bench-deps

venv: $(DEV_STAMP)

$(DEV_STAMP): pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e '.[dev,cloud]'
	touch $@

venv-train: $(TRAIN_STAMP)

$(TRAIN_STAMP): $(DEV_STAMP)
	$(PY) -m pip install --quiet -e '.[dev,cloud,train]'
	touch $@

# Debian packages the tests talk to for real (the broker, later a browser and PostgreSQL).
system-deps:
	@missing=""; for pkg in $(DEBIAN_PACKAGES); do dpkg -s $$pkg >/dev/null 2>&1 || missing="$$missing $$pkg"; done; \
	if [ -n "$$missing" ]; then \
		echo "installing Debian packages:$$missing"; \
		SUDO=$$( [ "$$(id -u)" = 0 ] || echo sudo ); \
		$$SUDO apt-get update -qq && DEBIAN_FRONTEND=noninteractive $$SUDO apt-get install -y -qq --no-install-recommends $$missing >/dev/null; \
	fi

DEBIAN_PACKAGES := mosquitto postgresql chromium chromium-driver systemd util-linux

# Bench-only Debian packages: wrk, the C load generator of bench/fleet_scaling.py (`make bench-deps`).
bench-deps:
	@$(MAKE) --no-print-directory system-deps DEBIAN_PACKAGES="$(DEBIAN_PACKAGES) $(BENCH_DEBIAN_PACKAGES)"

BENCH_DEBIAN_PACKAGES := wrk

lint: venv
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .

typecheck: venv
	$(VENV)/bin/mypy edge_agent cloud_sync models bench tests

pytest: venv system-deps
	$(VENV)/bin/pytest -q

test: lint typecheck pytest

# Regenerate the shipped model packages (deterministic; needs the `train` extra; ~15 min on 2 cores).
models: venv-train
	$(PY) -m models.training.build_all

# Held-out quality figures of the shipped packages, through the gateway's own inference path.
evaluate: venv-train
	$(PY) -m models.training.evaluate

bench: venv
	$(PY) bench/inference.py

demo: venv system-deps
	$(VENV)/bin/edge-agent demo

# The retraining loop: motor-1 drifts, labels flow up, cloud-sync retrains and rolls out (~3 min).
demo-loop: venv system-deps
	$(VENV)/bin/edge-agent demo --loop

# Install on this Debian gateway as a systemd service (see README: "Install on a gateway").
install:
	$$( [ "$$(id -u)" = 0 ] || echo sudo ) systemd/install.sh

# Stop and remove the service and its venv; config and state stay unless PURGE=1.
uninstall:
	$$( [ "$$(id -u)" = 0 ] || echo sudo ) systemd/uninstall.sh $(if $(filter 1,$(PURGE)),--purge)

clean:
	rm -rf $(VENV) .mypy_cache .ruff_cache .pytest_cache
