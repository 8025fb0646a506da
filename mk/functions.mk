# functions/: the Lambda functions. Their tests run in the root `cargo test --locked` and need
# moto (PyPI `moto[server]`) in a venv cached under $(CACHE_DIR); the test harness starts and
# stops `moto_server` on a free loopback port itself.
.PHONY: moto-venv

MOTO_VENV := $(CACHE_DIR)/venv-moto
export KARCIS_MOTO_VENV := $(MOTO_VENV)
# Pinned: the moto launcher in functions/src/testing.rs (MOTO_VERSION) patches this release's
# DynamoDB internals and refuses to start on any other; a cached venv with another is rebuilt.
MOTO_VERSION := 5.2.5

moto-venv: ## python venv with moto[server] for the AWS integration tests (cached)
	@if [ -f "$(MOTO_VENV)/.karcis-ok" ] && "$(MOTO_VENV)/bin/python" -c \
		'import sys, moto; sys.exit(moto.__version__ != "$(MOTO_VERSION)")' 2>/dev/null; then \
		echo "moto venv: cached at $(MOTO_VENV)"; \
	else \
		rm -rf "$(MOTO_VENV)" && mkdir -p "$(CACHE_DIR)" && \
		python3 -m venv "$(MOTO_VENV)" && \
		"$(MOTO_VENV)/bin/pip" install --quiet --disable-pip-version-check 'moto[server]==$(MOTO_VERSION)' && \
		touch "$(MOTO_VENV)/.karcis-ok" && echo "moto venv: installed at $(MOTO_VENV)"; \
	fi

SETUP_STEPS += moto-venv

# The restore drill (README "Restore drill"): on moto, a sale of KARCIS_DRILL_ORDERS orders is
# backed up, a buyer erased, the backup restored into a new table, the erasure log replayed and
# the invariants checked; the report is printed. `make test` runs it at 12 orders.
.PHONY: restore-drill
KARCIS_DRILL_ORDERS ?= 300
restore-drill: moto-venv ## restore drill on moto at KARCIS_DRILL_ORDERS orders, prints the report
	KARCIS_DRILL_ORDERS=$(KARCIS_DRILL_ORDERS) cargo test --locked -p functions --test restore_drill -- --nocapture
