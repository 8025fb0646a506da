# Flash-sale scaling benchmark (issue 15): reservations a second against the number of stock
# shards, under the DynamoDB behaviour simulator's write ceilings (dynamo-sim/). Not part of
# `make test` (a benchmark, not an assertion); figures in README "Sharded stock".
.PHONY: bench-scale

bench-scale: moto-venv ## reservations/s and conflict/throttle rates vs stock shards (simulator)
	cargo run --locked -p functions --example scale_bench -- $(BENCH_SHARDS)
