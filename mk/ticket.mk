# The ticket core: toolchain, wasm build, benchmarks.
.PHONY: toolchain wasm-ticket bench-ticket

toolchain: ## rust components and the wasm32 target
	@rustup component list --installed | grep -q '^clippy' || rustup component add clippy rustfmt
	@rustup target list --installed | grep -qx wasm32-unknown-unknown || rustup target add wasm32-unknown-unknown

wasm-ticket: toolchain ## build ticket/ for wasm32-unknown-unknown
	cargo build --locked -p ticket --target wasm32-unknown-unknown --release
	cargo clippy --locked -p ticket --target wasm32-unknown-unknown -- -D warnings

bench-ticket: ## criterion benchmarks of sign/seal/encode/verify
	cargo bench --locked -p ticket --bench ticket

TEST_STEPS += wasm-ticket
