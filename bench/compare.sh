#!/usr/bin/env bash
# One command: build release, run every mqtt_bench scenario against our broker
# and Debian's mosquitto side by side on 127.0.0.1, print the Markdown table.
#
#   bench/compare.sh                 # full run (about 10-15 minutes)
#   bench/compare.sh --quick         # smoke run (under a minute)
#   bench/compare.sh --scenarios p2p,fan-in --qos 1   # any mqtt_bench option
#
# Environment: OURS (default target/release/mosquitto), MOSQUITTO (default
# /usr/sbin/mosquitto), OUT (also save the report to this file).
#
# mqtt_bench starts each broker afresh for every case (free port found by
# binding port 0, the same temporary config for both: listener PORT 127.0.0.1,
# allow_anonymous true, log_dest none, persistence false, mosquitto's default
# max_inflight_messages/max_queued_messages), alternates the two brokers case
# by case, and stops them (they also die with it: PR_SET_PDEATHSIG).
set -euo pipefail

cd "$(dirname "$0")/.."
OURS=${OURS:-target/release/mosquitto}
MOSQUITTO=${MOSQUITTO:-/usr/sbin/mosquitto}

# mqtt_bench is a workspace member outside the default build (bench/Cargo.toml);
# one invocation builds both, and the shared target/ holds both binaries.
cargo build --release --quiet -p mosquitto-rs -p mqtt_bench --bin mosquitto --bin mqtt_bench

for b in "$OURS" "$MOSQUITTO"; do
    if [ ! -x "$b" ]; then
        echo "compare.sh: broker binary not found: $b" >&2
        exit 2
    fi
done

# 5,000 idle connections need 5,000 descriptors on each side. Raise the soft
# limit as far as the hard one allows (mqtt_bench raises it too, and the
# brokers inherit it).
ulimit -n 65536 2>/dev/null || ulimit -n "$(ulimit -Hn)" 2>/dev/null || true
echo "open files limit: $(ulimit -n)" >&2

args=(--broker "ours=$OURS" --broker "mosquitto=$MOSQUITTO" "$@")
if [ -n "${OUT:-}" ]; then
    target/release/mqtt_bench "${args[@]}" | tee "$OUT"
else
    target/release/mqtt_bench "${args[@]}"
fi
