#!/usr/bin/env bash
# One command: build release, run every mqtt_bench scenario against our broker,
# Debian's mosquitto and rumqttd (when installed) side by side on 127.0.0.1,
# print the Markdown tables.
#
#   bench/compare.sh                 # full run: 3 alternating runs per case
#   bench/compare.sh --quick         # smoke run (a few minutes)
#   bench/compare.sh --scenarios p2p,fan-in --qos 1   # any mqtt_bench option
#
# Environment: OURS (default target/release/mosquitto), MOSQUITTO (default
# /usr/sbin/mosquitto), RUMQTTD (default: rumqttd on PATH or in
# ~/.cargo/bin; RUMQTTD=none leaves it out), BROKERS (more NAME=PATH
# entries, space separated), OUT (also save the report to this file).
# `--runs N`, `--latency-rate LIST`, `--mqtt-version LIST` and `--inflight N`
# given here replace the defaults `--runs 3 --latency-rate 10000,20000,80%
# --mqtt-version 3.1.1,5 --inflight 100` (the last one wins): p2p, fan-out
# and fan-in run at MQTT 3.1.1 and again at MQTT 5, the rest at 3.1.1.
# `--inflight 100`: every broker may have 100 messages in flight to each
# client, as rumqttd always has (its window is fixed in its source), so
# fan-out and fan-in QoS 1/2 compare brokers, not windows.
#
# mqtt_bench starts each broker afresh for every case (free port found by
# binding port 0, the same temporary config for the mosquitto-style brokers:
# listener PORT 127.0.0.1, allow_anonymous true, log_dest none, persistence
# false, max_inflight_messages from --inflight, mosquitto's default
# max_queued_messages;
# rumqttd gets its own TOML, see bench/README.md), rotates the brokers'
# order from run to run, and stops them (they also die with it:
# PR_SET_PDEATHSIG).
set -euo pipefail

cd "$(dirname "$0")/.."
OURS=${OURS:-target/release/mosquitto}
MOSQUITTO=${MOSQUITTO:-/usr/sbin/mosquitto}
if [ -z "${RUMQTTD:-}" ]; then
    RUMQTTD=$(command -v rumqttd || true)
    [ -z "$RUMQTTD" ] && [ -x "$HOME/.cargo/bin/rumqttd" ] && RUMQTTD=$HOME/.cargo/bin/rumqttd
fi

# mqtt_bench is a workspace member outside the default build (bench/Cargo.toml);
# one invocation builds both, and the shared target/ holds both binaries.
cargo build --release --quiet -p mosquitto-rs -p mqtt_bench --bin mosquitto --bin mqtt_bench

brokers=("ours=$OURS" "mosquitto=$MOSQUITTO")
if [ -n "$RUMQTTD" ] && [ "$RUMQTTD" != none ]; then
    brokers+=("rumqttd=$RUMQTTD")
else
    echo "compare.sh: rumqttd not installed (cargo install rumqttd --version 0.19.0): left out" >&2
fi
for b in ${BROKERS:-}; do brokers+=("$b"); done

args=()
for b in "${brokers[@]}"; do
    if [ ! -x "${b#*=}" ]; then
        echo "compare.sh: broker binary not found: ${b#*=}" >&2
        exit 2
    fi
    args+=(--broker "$b")
done

# Idle connections need a descriptor each on both sides. Raise the soft
# limit as far as the hard one allows (mqtt_bench raises it too, and the
# brokers inherit it).
ulimit -n 120000 2>/dev/null || ulimit -n "$(ulimit -Hn)" 2>/dev/null || true
echo "open files limit: $(ulimit -n)" >&2

args+=(--runs 3 --latency-rate 10000,20000,80% --mqtt-version 3.1.1,5 --inflight 100 "$@")
if [ -n "${OUT:-}" ]; then
    target/release/mqtt_bench "${args[@]}" | tee "$OUT"
else
    target/release/mqtt_bench "${args[@]}"
fi
