# The edge worker (edge-worker/): its toolchain, the release WASM build, and its tests in workerd.
#
# Slow tools are built once into $(CACHE_DIR)/cargo-tools and reused: wasm-bindgen-cli (the
# exact version of wasm-bindgen in Cargo.lock) and worker-build. The npm tools (wrangler,
# miniflare/workerd, esbuild, binaryen's wasm-opt) come from edge-worker/package-lock.json.
# worker-build is pointed at all of them, so it never downloads anything.
.PHONY: edge-setup build-edge test-edge bench-edge bench-queue deploy-edge-dry-run

EDGE_DIR := edge-worker
EDGE_TOOLS := $(CACHE_DIR)/cargo-tools
EDGE_WORKER_BUILD_VERSION := 0.8.7
EDGE_TARGET_DIR = $(or $(CARGO_TARGET_DIR),$(CURDIR)/target)
EDGE_TESTGEN = $(EDGE_TARGET_DIR)/debug/edge-testgen
# The wasm-bindgen version the lock file pins (the CLI must match it exactly).
EDGE_BINDGEN_VERSION = $(shell awk '/^name = "wasm-bindgen"$$/ { getline; gsub(/"/, "", $$3); print $$3; exit }' Cargo.lock)
EDGE_NPM_STAMP := $(EDGE_DIR)/node_modules/.karcis-lock-stamp

export WRANGLER_SEND_METRICS := false

EDGE_BUILD_ENV = WASM_BINDGEN_BIN=$(EDGE_TOOLS)/bin/wasm-bindgen \
	WASM_OPT_BIN=$(CURDIR)/$(EDGE_DIR)/node_modules/.bin/wasm-opt \
	ESBUILD_BIN=$(CURDIR)/$(EDGE_DIR)/node_modules/.bin/esbuild

edge-setup: toolchain ## edge worker tools: wasm-bindgen-cli, worker-build, npm (cached)
	@v='$(EDGE_BINDGEN_VERSION)'; test -n "$$v" || { echo "no wasm-bindgen in Cargo.lock"; exit 1; }; \
	if [ "$$($(EDGE_TOOLS)/bin/wasm-bindgen --version 2>/dev/null)" != "wasm-bindgen $$v" ]; then \
		echo "installing wasm-bindgen-cli $$v into $(EDGE_TOOLS) (a few minutes, once)"; \
		cargo install --quiet --force --root $(EDGE_TOOLS) wasm-bindgen-cli --version "=$$v"; \
	fi
	@if [ "$$($(EDGE_TOOLS)/bin/worker-build --version 2>/dev/null)" != "$(EDGE_WORKER_BUILD_VERSION)" ]; then \
		echo "installing worker-build $(EDGE_WORKER_BUILD_VERSION) into $(EDGE_TOOLS) (a few minutes, once)"; \
		cargo install --quiet --force --root $(EDGE_TOOLS) worker-build --version "=$(EDGE_WORKER_BUILD_VERSION)"; \
	fi
	@want="$$(sha256sum $(EDGE_DIR)/package-lock.json | cut -d' ' -f1)"; \
	if [ "$$(cat $(EDGE_NPM_STAMP) 2>/dev/null)" != "$$want" ]; then \
		(cd $(EDGE_DIR) && npm ci --no-audit --no-fund --loglevel=error) && echo "$$want" > $(EDGE_NPM_STAMP); \
	fi

build-edge: edge-setup ## release build of the worker to edge-worker/build (wasm-opt'ed)
	cd $(EDGE_DIR) && $(EDGE_BUILD_ENV) $(EDGE_TOOLS)/bin/worker-build --release
	@ls -l $(EDGE_DIR)/build/index_bg.wasm | awk '{ print "edge worker wasm: " $$5 " bytes" }'

EDGE_DRY_RUN = cd $(EDGE_DIR) && rm -rf build/dry-run && node_modules/.bin/wrangler deploy --dry-run --outdir build/dry-run

deploy-edge-dry-run: build-edge ## what `wrangler deploy` would upload, without uploading
	$(EDGE_DRY_RUN)

test-edge: build-edge ## the edge worker: clippy (wasm32), unit tests, workerd tests, deploy dry-run
	cargo clippy --locked -p edge-worker --target wasm32-unknown-unknown -- -D warnings
	cargo clippy --locked -p edge-worker -p edge-testgen --all-targets -- -D warnings
	cargo build --locked -p edge-testgen
	cargo test --locked -p edge-worker --lib
	cd $(EDGE_DIR) && EDGE_TESTGEN=$(EDGE_TESTGEN) node --test --test-concurrency=1 test/*.test.mjs
	cd $(EDGE_DIR) && EDGE_TESTGEN=$(EDGE_TESTGEN) EDGE_SIG_BACKEND=p256 node --test test/scan.test.mjs
	$(EDGE_DRY_RUN)

bench-edge: build-edge ## benchmark in workerd: scan latency p50/p99, p256 vs WebCrypto CPU cost
	cargo build --locked -p edge-testgen
	cd $(EDGE_DIR) && EDGE_TESTGEN=$(EDGE_TESTGEN) node bench/bench.mjs

# The waiting room in workerd: admission rate against the configured one, workerd CPU per join
# and per poll (QUEUE_BENCH_PLACES, QUEUE_BENCH_RATE, QUEUE_BENCH_POLL_MS; bounded).
bench-queue: build-edge ## benchmark in workerd: waiting-room admission rate, CPU per queue request
	cargo build --locked -p edge-testgen
	cd $(EDGE_DIR) && EDGE_TESTGEN=$(EDGE_TESTGEN) node bench/queue.mjs

SETUP_STEPS += edge-setup
TEST_STEPS += test-edge
