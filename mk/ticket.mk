# The ticket core: toolchain, wasm build, fuzzing, benchmarks.
.PHONY: toolchain wasm-ticket fuzz-ticket bench-ticket

CARGO_TOOLS := $(CACHE_DIR)/cargo-tools
FUZZ_SECS ?= 30
# cargo-fuzz needs nightly flags: the nightly toolchain when rustup has it, else stable unlocked.
FUZZ_TOOLCHAIN := $(shell rustup toolchain list 2>/dev/null | grep -q '^nightly' && echo +nightly)
FUZZ_ENV := $(if $(FUZZ_TOOLCHAIN),,RUSTC_BOOTSTRAP=1)

toolchain: ## rust components and the wasm32 target
	@rustup component list --installed | grep -q '^clippy' || rustup component add clippy rustfmt
	@rustup target list --installed | grep -qx wasm32-unknown-unknown || rustup target add wasm32-unknown-unknown

wasm-ticket: toolchain ## build ticket/ for wasm32-unknown-unknown
	cargo build --locked -p ticket --target wasm32-unknown-unknown --release
	cargo clippy --locked -p ticket --target wasm32-unknown-unknown -- -D warnings

$(CARGO_TOOLS)/bin/cargo-fuzz:
	cargo install --root $(CARGO_TOOLS) cargo-fuzz --version 0.13.2

fuzz-ticket: $(CARGO_TOOLS)/bin/cargo-fuzz ## libFuzzer on the QR decoder for FUZZ_SECS seconds
	cd ticket/fuzz && PATH="$(CARGO_TOOLS)/bin:$$PATH" $(FUZZ_ENV) \
	  cargo $(FUZZ_TOOLCHAIN) fuzz run qr_decode -- -max_total_time=$(FUZZ_SECS) -rss_limit_mb=2048

bench-ticket: ## criterion benchmarks of sign/seal/encode/verify
	cargo bench --locked -p ticket --bench ticket

TEST_STEPS += wasm-ticket fuzz-ticket
