# Every target installs what it needs first; `make run` and `make test` work on a fresh clone.
SHELL := /bin/bash
.DEFAULT_GOAL := help

VENV      := .venv
PY        := $(VENV)/bin/python
UV        := $(VENV)/bin/uv
UV_VERSION := 0.13.9
STAMP     := $(VENV)/.setup-complete
CONFIG    ?= configs/local.yaml
OUTPUT    ?= outputs/local
TB_PORT   ?= 6006
RUN_ARGS  ?=
PYTEST_ARGS ?=

# python3.10 from PATH, or from pyenv's versions when the shim does not select it.
PYTHON310 := $(shell for p in python3.10 $$HOME/.pyenv/versions/3.10*/bin/python3.10 /usr/bin/python3.10 /usr/local/bin/python3.10; do \
                 if $$p -c 'import sys; assert sys.version_info[:2] == (3, 10)' >/dev/null 2>&1; then echo $$p; break; fi; done)

.PHONY: help setup system-deps test-deps data run simulate test test-unit test-e2e lint clean check-config tensorboard \
        compile image bench run-spec fuzz

help: ## list the targets
	@grep -E '^[a-z0-9-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  make %-14s %s\n", $$1, $$2}'

setup: $(STAMP) system-deps ## create .venv from requirements.lock with uv, and the Debian package a run uses

# Debian packages. A run needs only graphviz, which draws the lineage graph of
# the run report and of `lineage graph` (SVG/PNG). The tests also need
# postgresql and mariadb-server (real ML Metadata backends for the shared-store
# tests) and chromium with chromium-driver (the run report in a real browser);
# `make test` installs those, so a first `make run` does not wait for them.
# A package counts as installed only in dpkg's "install ok installed" state: one
# removed with its configuration files kept ("deinstall ok config-files") still
# answers `dpkg -s`, without its programs. Installed when running as root (CI);
# otherwise the command to run is printed,
# and the tests that need them are skipped with the reason (under CI=true they
# fail instead: there a missing package is a broken setup).
RUN_PACKAGES  := graphviz
TEST_PACKAGES := postgresql mariadb-server chromium chromium-driver
define install_debian_packages
	@missing=""; for p in $(1); do \
	  dpkg-query -W -f='$${Status}' $$p 2>/dev/null | grep -q 'install ok installed' || missing="$$missing $$p"; done; \
	if [ -n "$$missing" ]; then \
	  if [ "$$(id -u)" = 0 ]; then \
	    echo "installing Debian packages:$$missing"; \
	    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends $$missing >/dev/null; \
	  else \
	    echo "note: missing Debian packages:$$missing (run: sudo apt-get install$$missing)"; \
	  fi; \
	fi
endef

system-deps: ## install the Debian package a run uses (graphviz) when root and missing
	$(call install_debian_packages,$(RUN_PACKAGES))

test-deps: ## install the Debian packages only the tests use (database servers, browser) when root and missing
	$(call install_debian_packages,$(TEST_PACKAGES))

# --compile-bytecode writes every package's .pyc at install time. Python
# otherwise compiles them on import, and where PYTHONDONTWRITEBYTECODE is set (as
# on CI machines and in many images) it does so again in every process:
# importing TensorFlow, TFX and TFMA took 25 s that way and 7.5 s precompiled.
$(STAMP): requirements.lock pyproject.toml Makefile
	@test -n "$(PYTHON310)" || { echo "error: Python 3.10 not found (TFX 1.16 needs 3.10; install it, e.g. with pyenv)"; exit 1; }
	@test -x $(PY) || $(PYTHON310) -m venv $(VENV)
	@$(UV) --version 2>/dev/null | grep -q "$(UV_VERSION)" || $(PY) -m pip install --quiet "uv==$(UV_VERSION)"
	$(UV) pip sync --quiet --compile-bytecode --python $(PY) requirements.lock
	$(UV) pip install --quiet --compile-bytecode --python $(PY) --no-deps -e .
	@touch $(STAMP)

data: setup ## write the taxi CSV shipped in the tfx package to data/taxi/ as quarterly spans
	@$(PY) -m pipeline data

run: setup data ## run the whole pipeline locally (CONFIG=configs/local.yaml, RUN_ARGS=--force)
	@$(PY) -m pipeline run --config $(CONFIG) $(RUN_ARGS)

tensorboard: setup ## TensorBoard on the training logs of every run under OUTPUT
	@test -d $(OUTPUT)/pipeline_root/Trainer/model_run || { echo "no training logs under $(OUTPUT); run 'make run' first"; exit 1; }
	$(VENV)/bin/tensorboard --logdir $(OUTPUT)/pipeline_root/Trainer/model_run --host 127.0.0.1 --port $(TB_PORT)

simulate: setup data ## continuous training: one run per quarterly span, in order (about a minute per span)
	@$(PY) -m pipeline simulate --config $(CONFIG) --output outputs/simulate

# Kubeflow: the image the compiled tasks run in, and the config with its locations.
IMAGE ?=
KUBEFLOW_CONFIG ?= configs/kubeflow.yaml

compile: setup ## compile for Kubeflow Pipelines 2.x into build/pipeline.yaml (IMAGE=... to set the image)
	@$(PY) -m pipeline compile --config $(KUBEFLOW_CONFIG) --output build/pipeline.yaml \
		$(if $(IMAGE),--set kubeflow.image=$(IMAGE))

# `make run-spec`: the Kubeflow config compiled with local folders for its
# locations, then run task by task through the compiled container commands.
# It reads every span, as `make run` does: the default data's newest quarterly
# span holds 201 rows, too few for a model that clears the thresholds.
SPEC_LOCAL := outputs/kubeflow-local
run-spec: setup data ## compile the Kubeflow config for local folders and run the spec task by task (outputs/kubeflow-local)
	@$(PY) -m pipeline compile --config $(KUBEFLOW_CONFIG) --output $(SPEC_LOCAL)/pipeline.yaml \
		--set kubeflow.image=$(or $(IMAGE),local/taxi-tfx:run-spec) --set spans=all \
		--set kubeflow.data=$(CURDIR)/data/taxi --set kubeflow.serving_dir=$(CURDIR)/$(SPEC_LOCAL)/serving \
		--set kubeflow.state_dir=$(CURDIR)/$(SPEC_LOCAL)/state \
		--set kubeflow.schema_file=$(CURDIR)/schemas/taxi/schema.pbtxt
	@$(PY) -m pipeline run-spec $(SPEC_LOCAL)/pipeline.yaml --root $(SPEC_LOCAL)/root \
		--store $(SPEC_LOCAL)/metadata.sqlite

image: ## build and push the pipeline image: make image IMAGE=registry/taxi-tfx:TAG (needs a Docker engine)
	@test -n "$(IMAGE)" || { echo "set IMAGE, e.g. make image IMAGE=registry.example.com/taxi-tfx:0.1.0"; exit 2; }
	@docker info >/dev/null 2>&1 || { echo "no Docker engine reachable ('docker info' failed): build the image where one runs"; exit 2; }
	docker build --tag $(IMAGE) .
	docker push $(IMAGE)

BENCH_ARGS ?=
bench: setup data ## measure: vs TFX's template (taxi CSV and 1.5M rows), reruns, scale, trainer, start-up, lineage on 1,000 runs, 1 vs 2 training workers, pre-flight check and predict on 1.5M rows, a newcomer's make run -> docs/benchmarks.md (35-50 minutes on 2 cores)
	@$(PY) -m benchmarks all $(BENCH_ARGS)

check-config: setup ## validate CONFIG and print it
	@$(PY) -m pipeline check-config --config $(CONFIG)

test: setup test-deps ## run every test (unit and end-to-end)
	$(PY) -m pytest $(PYTEST_ARGS)

# The CI share of the fuzzing is FUZZ_CSV_EXAMPLES=600 per property (in make test).
FUZZ_EXAMPLES ?= 10000
fuzz: setup ## the pre-flight check and predict's reader on 10,000 generated CSV files each (hypothesis)
	FUZZ_CSV_EXAMPLES=$(FUZZ_EXAMPLES) $(PY) -m pytest tests/data/test_fuzz_csv.py -p no:cacheprovider $(PYTEST_ARGS)

test-unit: setup test-deps ## run the tests that need no pipeline run (a few minutes)
	$(PY) -m pytest -m "not e2e" $(PYTEST_ARGS)

test-e2e: setup test-deps ## run the pipeline end-to-end tests only
	$(PY) -m pytest -m e2e $(PYTEST_ARGS)

lint: setup ## ruff over the project
	$(VENV)/bin/ruff check .

clean: ## remove run outputs and caches (keeps .venv and data/)
	rm -rf outputs build .pytest_cache .ruff_cache .hypothesis test-artifacts
	find . -name __pycache__ -not -path "./$(VENV)/*" -prune -exec rm -rf {} +
