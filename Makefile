# karcis: every target installs what it needs, idempotently, on a fresh machine.
# Slow installs go to $(CACHE_DIR) so the next run (and the next clone) reuses them.
SHELL := bash
.SHELLFLAGS := -eu -o pipefail -c
.DEFAULT_GOAL := help
MAKEFLAGS += --no-print-directory

CACHE_DIR ?= $(HOME)/.cache/karcis
export CARGO_TERM_COLOR ?= never
export CARGO_INCREMENTAL ?= 0

# Fragments in mk/ add their own steps to these lists (TEST_STEPS_LAST: after all TEST_STEPS).
SETUP_STEPS :=
TEST_STEPS :=
TEST_STEPS_LAST :=

include $(sort $(wildcard mk/*.mk))

.PHONY: help setup test lint fmt

help: ## list the targets
	@grep -hE '^[a-zA-Z0-9_-]+:.*## ' $(MAKEFILE_LIST) | sed -E 's/:.*## /\t/' | sort

setup: toolchain $(SETUP_STEPS) ## install everything the tests need (idempotent)

fmt: ## format the code
	cargo fmt --all

lint: toolchain ## rustfmt check and clippy -D warnings (native crates)
	cargo fmt --all -- --check
	cargo clippy --locked --all-targets -- -D warnings

test: setup lint ## the CI command: lint, every test, the wasm builds, the infra checks
	cargo test --locked
	@for step in $(TEST_STEPS) $(TEST_STEPS_LAST); do echo "==> $$step"; $(MAKE) $$step; done
	@echo "make test: all green"
