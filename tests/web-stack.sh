#!/usr/bin/env bash
# `make test-web-stack`: web/test/browser/stack.test.mjs (buy in the browser, step-up code, pay on
# the gateway stub's page, minted, bind the key, admitted at the edge, stale screenshot refused,
# privacy export + delete) against the real local stack of `karcis-demo serve`.
#
#   tests/web-stack.sh KARCIS_DEMO_BIN WEB_DIR
#
# Starts `karcis-demo serve` in its own process group with its stdin on a FIFO this script holds
# open, waits (bounded) for its `export KARCIS_...` lines, runs the node test with them (never
# with KARCIS_SKIP_STACK_TESTS: a missing variable fails instead of skipping), then closes the FIFO
# (the stack shuts down: edge, pollers, API, moto). On any exit (failure, timeout, Ctrl-C) the
# same happens, and whatever is still running after a grace period is killed by process group.
# Env: WEB_STACK_TICKETS (default 10), WEB_STACK_START_SECS (180), WEB_STACK_TEST_SECS (420).
set -euo pipefail

demo=${1:?usage: web-stack.sh KARCIS_DEMO_BIN WEB_DIR}
web_dir=${2:?usage: web-stack.sh KARCIS_DEMO_BIN WEB_DIR}
start_secs=${WEB_STACK_START_SECS:-180}
test_secs=${WEB_STACK_TEST_SECS:-420}
[ -x "$demo" ] || { echo "web-stack: $demo is not built" >&2; exit 2; }

tmp=$(mktemp -d "${TMPDIR:-/tmp}/karcis-web-stack.XXXXXX")
mkfifo "$tmp/stdin"
pid=
test_pid=

# Every process below $1 (the edge runs in a process group of its own).
descendants() {
  local p
  for p in $(ps -o pid= --ppid "$1" 2>/dev/null); do
    echo "$p"
    descendants "$p"
  done
}

stop_stack() {
  [ -n "$pid" ] || return 0
  local tree p i
  tree=$(descendants "$pid")
  exec 3>&- || true # EOF on its stdin: `serve` stops the stack and exits
  for i in $(seq 1 60); do
    kill -0 "$pid" 2>/dev/null || break
    sleep 0.5
  done
  if kill -0 "$pid" 2>/dev/null; then
    echo "web-stack: the stack did not stop within 30 s; killing it" >&2
  fi
  kill -TERM -- "-$pid" 2>/dev/null || true
  for p in $tree; do kill -TERM "$p" 2>/dev/null || true; done
  sleep 1
  kill -KILL -- "-$pid" 2>/dev/null || true
  for p in $tree; do kill -KILL "$p" 2>/dev/null || true; done
  wait "$pid" 2>/dev/null || true
  pid=
}

cleanup() {
  local status=$?
  if [ -n "$test_pid" ]; then
    kill -TERM "$test_pid" 2>/dev/null || true
    wait "$test_pid" 2>/dev/null || true
  fi
  stop_stack
  if [ "$status" != 0 ] && [ -s "$tmp/stack.log" ]; then
    echo "web-stack: failed ($status); the stack's log (last 40 lines):" >&2
    tail -n 40 "$tmp/stack.log" >&2
  fi
  rm -rf "$tmp"
  exit "$status"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

# Own process group (pgid = pid), stdin = the FIFO; opening fd 3 unblocks both ends.
set -m
DEMO_TICKETS=${WEB_STACK_TICKETS:-10} "$demo" serve <"$tmp/stdin" >"$tmp/env" 2>"$tmp/stack.log" &
pid=$!
set +m
exec 3>"$tmp/stdin"

echo "web-stack: starting the stack (karcis-demo serve, pid $pid)"
deadline=$((SECONDS + start_secs))
until [ "$(grep -c '^export KARCIS_' "$tmp/env" || true)" -ge 10 ]; do
  kill -0 "$pid" 2>/dev/null || { echo "web-stack: karcis-demo serve exited before it was ready" >&2; exit 1; }
  [ "$SECONDS" -lt "$deadline" ] || { echo "web-stack: the stack was not ready within ${start_secs} s" >&2; exit 1; }
  sleep 0.5
done
grep -E '^export KARCIS_(API|EDGE)_URL=' "$tmp/env"

# The lines are `export NAME=value` written by karcis-demo (URLs, ids, the door staff's sign-in, three commands).
# shellcheck disable=SC1091
. "$tmp/env"
unset KARCIS_SKIP_STACK_TESTS
export KARCIS_FRESHNESS_SECS=30

# timeout signals the node test's process group (playwright closes chromium on SIGTERM). In the
# background, so that a TERM/INT to this script is handled at once (cleanup stops the test too).
(cd "$web_dir" && exec timeout -k 15 "$test_secs" node --test --test-concurrency=1 test/browser/stack.test.mjs) &
test_pid=$!
wait "$test_pid"
test_pid=
echo "web-stack: stack browser test passed; stopping the stack"
