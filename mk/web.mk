# web/: the buyers' static site and the door scanner app, tested in Debian's chromium through
# playwright-core (headless). Unit tests of the QR format module run in Node against
# ticket/test-vectors.json; the scanner and QR browser tests run against the real edge worker
# (edge-worker/build in workerd, fixtures from edge-testgen); the end-to-end purchase test runs
# against the local stack in test-web-stack (mk/demo.mk), so these targets opt out of it with
# KARCIS_SKIP_STACK_TESTS=1. Run by hand, a browser test whose tools or variables are missing
# fails and names them (KARCIS_SKIP_EDGE_TESTS=1 / KARCIS_SKIP_STACK_TESTS=1 skip instead).
.PHONY: web-setup web-edge-deps test-web web-screenshots web-serve bench-door

WEB_DIR := web
WEB_NPM_STAMP := $(WEB_DIR)/node_modules/.karcis-lock-stamp
WEB_CHROMIUM ?= /usr/bin/chromium
WEB_TEST_ENV = EDGE_TESTGEN=$(EDGE_TESTGEN) KARCIS_CHROMIUM=$(WEB_CHROMIUM) KARCIS_SKIP_STACK_TESTS=1

web-setup: ## web/: Debian chromium (apt, once), npm ci, vendored browser libraries
	@if [ ! -x "$(WEB_CHROMIUM)" ]; then \
		echo "installing Debian chromium (once)"; \
		if [ "$$(id -u)" = 0 ]; then SUDO=; else SUDO=sudo; fi; \
		$$SUDO apt-get install -y --no-install-recommends chromium >/dev/null 2>&1 || \
		{ $$SUDO apt-get update -qq && $$SUDO apt-get install -y --no-install-recommends chromium; }; \
	fi
	@want="$$(sha256sum $(WEB_DIR)/package-lock.json | cut -d' ' -f1)"; \
	if [ "$$(cat $(WEB_NPM_STAMP) 2>/dev/null)" != "$$want" ]; then \
		(cd $(WEB_DIR) && npm ci --no-audit --no-fund --loglevel=error) && echo "$$want" > $(WEB_NPM_STAMP); \
	fi
	@cd $(WEB_DIR) && node scripts/vendor.mjs >/dev/null

# The edge pieces the browser tests use; built by test-edge earlier in `make test`, else here.
web-edge-deps:
	@test -f $(EDGE_DIR)/build/index.js || $(MAKE) build-edge
	@cargo build --locked --quiet -p edge-testgen

# test/browser/ includes pin.test.mjs (the scanner PIN and WebAuthn, with a virtual authenticator).
test-web: web-setup web-edge-deps ## web/: QR format unit tests (Node) + browser tests (chromium, real edge)
	cd $(WEB_DIR) && node --test test/unit/
	cd $(WEB_DIR) && $(WEB_TEST_ENV) node --test --test-concurrency=1 test/browser/

bench-door: web-setup web-edge-deps ## the door: time to admit through the camera (p50/p99, split), jsQR decode per frame
	cd $(WEB_DIR) && $(WEB_TEST_ENV) node bench/door.mjs
	cd $(WEB_DIR) && node bench/qr-size.mjs

web-screenshots: web-setup web-edge-deps ## refresh web/screenshots/*.png (the browser tests take them)
	cd $(WEB_DIR) && $(WEB_TEST_ENV) KARCIS_SCREENSHOTS=$(CURDIR)/$(WEB_DIR)/screenshots \
		node --test --test-concurrency=1 test/browser/

web-serve: web-setup ## serve web/ on 127.0.0.1:8080 (proxies KARCIS_API_URL / KARCIS_EDGE_URL)
	cd $(WEB_DIR) && node scripts/serve.mjs 8080

SETUP_STEPS += web-setup
TEST_STEPS += test-web
