# tests/ (crate karcis-e2e): `make demo` and the end-to-end tests.
#
#   make demo                                  the flash sale: 500 tickets, 2000 buyers
#   make demo DEMO_TICKETS=100 DEMO_BUYERS=400 other sizes (DEMO_CONCURRENCY: requests in flight)
#
# The demo starts everything on 127.0.0.1 (moto, the functions behind a local API gateway, the
# SQS pollers, the gateway stub, the edge worker in workerd) and stops it at the end. The e2e
# tests (tests/tests/*.rs) run the same stack in the root `cargo test`; they need the built
# worker, so `build-edge` is a setup step (it runs after edge-setup, its prerequisite).
.PHONY: demo demo-serve test-web-stack

DEMO_TICKETS ?= 500
DEMO_BUYERS ?= 2000
DEMO_CONCURRENCY ?= 64
# DEMO_QUEUE=1: the sale through the edge's waiting room (DEMO_QUEUE_RATE admissions a second).
DEMO_QUEUE ?=
DEMO_QUEUE_RATE ?= 50

demo: build-edge moto-venv ## run the flash-sale demo locally (DEMO_TICKETS, DEMO_BUYERS; DEMO_QUEUE=1)
	cargo build --locked -p karcis-e2e --bin karcis-demo
	DEMO_TICKETS=$(DEMO_TICKETS) DEMO_BUYERS=$(DEMO_BUYERS) DEMO_CONCURRENCY=$(DEMO_CONCURRENCY) \
		DEMO_QUEUE=$(DEMO_QUEUE) DEMO_QUEUE_RATE=$(DEMO_QUEUE_RATE) $(DEMO_BIN)

DEMO_BIN = $(or $(CARGO_TARGET_DIR),$(CURDIR)/target)/debug/karcis-demo

# The stack with one on-sale event, kept up until stdin closes (Ctrl-D); prints `export KARCIS_...`
# lines for web/test/browser/stack.test.mjs (KARCIS_OTP_COMMAND / KARCIS_PURCHASE_OTP_COMMAND /
# KARCIS_PAY_COMMAND included).
demo-serve: build-edge moto-venv ## run the stack for the web app / browser tests (prints export lines)
	cargo build --locked -p karcis-e2e --bin karcis-demo
	DEMO_TICKETS=$(DEMO_TICKETS) $(DEMO_BIN) serve

SETUP_STEPS += build-edge

# web/test/browser/stack.test.mjs against `karcis-demo serve` (WEB_STACK_TICKETS tickets): the
# browser buys a VIP ticket, enters the step-up code (KARCIS_PURCHASE_OTP_COMMAND), pays on the
# gateway stub's page, waits for the mint, binds its key, is admitted at the edge, then exports and deletes its data (KARCIS_OTP_COMMAND), in English then in Indonesian
# (KARCIS_WEB_LOCALE). tests/web-stack.sh bounds every wait and stops the stack (by process group
# if need be) whatever happens. After test-web.
test-web-stack: web-setup build-edge moto-venv ## web/ browser test of the whole flow against the local stack
	cargo build --locked --quiet -p karcis-e2e --bin karcis-demo
	KARCIS_CHROMIUM=$(WEB_CHROMIUM) tests/web-stack.sh $(DEMO_BIN) $(WEB_DIR)
	KARCIS_CHROMIUM=$(WEB_CHROMIUM) KARCIS_WEB_LOCALE=id-ID tests/web-stack.sh $(DEMO_BIN) $(WEB_DIR)

TEST_STEPS_LAST += test-web-stack
