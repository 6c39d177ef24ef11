#!/usr/bin/env bash
# The footprint table of the README (issue 17), in one command:
#
#   bench/footprint.sh            # builds, then sizes and RSS (a few minutes)
#   SKIP_BUILD=1 bench/footprint.sh
#
# 1. Stripped sizes of the broker: x86_64 glibc with TLS (the host build),
#    x86_64 and aarch64 static musl without TLS (release, and the `small`
#    profile: opt-level "s"), aarch64 glibc with TLS, and Debian's mosquitto. The cross targets are built as .ci/cross builds them
#    (a target that is not installed is reported and left out).
# 2. bench/footprint.py: idle RSS, RSS per idle connection, per queued
#    message, and around a persistence save, for our x86_64 build, Debian's
#    mosquitto, and our aarch64 musl build under qemu-user (binfmt_misc).
#    Under qemu the RSS is qemu's plus the broker's: an upper bound only.
#
# Sizes and RSS do not depend on the machine's load, so this may run on a
# busy machine. Extra arguments go to footprint.py (e.g. --connections 1000).
set -euo pipefail

cd "$(dirname "$0")/.."
MOSQUITTO=${MOSQUITTO:-/usr/sbin/mosquitto}
A64_MUSL=aarch64-unknown-linux-musl
X64_MUSL=x86_64-unknown-linux-musl
A64_GNU=aarch64-unknown-linux-gnu
export CARGO_TARGET_AARCH64_UNKNOWN_LINUX_MUSL_LINKER=rust-lld
export CARGO_TARGET_X86_64_UNKNOWN_LINUX_MUSL_LINKER=rust-lld
export CARGO_TARGET_AARCH64_UNKNOWN_LINUX_GNU_LINKER=aarch64-linux-gnu-gcc
export QEMU_LD_PREFIX=/usr/aarch64-linux-gnu

installed=$(rustup target list --installed 2>/dev/null || true)
have() { grep -qx "$1" <<<"$installed"; }

if [ -z "${SKIP_BUILD:-}" ]; then
    nice cargo build --release --quiet --bin mosquitto
    for t in "$X64_MUSL" "$A64_MUSL"; do
        if have "$t"; then
            nice cargo build --release --quiet --no-default-features --target "$t" --bin mosquitto
            nice cargo build --profile small --quiet --no-default-features --target "$t" --bin mosquitto
        else
            echo "footprint: $t not installed (rustup target add $t): left out" >&2
        fi
    done
    if have "$A64_GNU" && command -v aarch64-linux-gnu-gcc >/dev/null; then
        PKG_CONFIG_ALLOW_CROSS=1 \
            PKG_CONFIG_LIBDIR=/usr/lib/aarch64-linux-gnu/pkgconfig:/usr/share/pkgconfig \
            nice cargo build --release --quiet --target "$A64_GNU" --bin mosquitto
    else
        echo "footprint: $A64_GNU or gcc-aarch64-linux-gnu missing: left out" >&2
    fi
fi

echo "## Stripped broker size"
echo
echo "| build | TLS | linked | bytes | MB | budget |"
echo "|---|---|---|---:|---:|---|"
row() { # label, tls, file, budget bytes
    [ -f "$3" ] || return 0
    local bytes linked ok
    bytes=$(stat -c %s "$3")
    linked=$(file -b "$3" | grep -Eo 'static(-pie)? linked|statically linked|dynamically linked' || echo '?')
    ok=""
    if [ -n "$4" ]; then
        ok="≤ $(awk -v b="$4" 'BEGIN { printf "%.1f", b / 1000000 }') MB"
        if [ "$bytes" -le "$4" ]; then ok="$ok ✓"; else ok="$ok ✗"; fi
    fi
    printf '| %s | %s | %s | %s | %s | %s |\n' "$1" "$2" "$linked" "$bytes" \
        "$(awk -v b="$bytes" 'BEGIN { printf "%.2f", b / 1000000 }')" "$ok"
}
row "ours x86_64 glibc" yes target/release/mosquitto 1200000
row "ours x86_64 musl" no "target/$X64_MUSL/release/mosquitto" 1000000
row "ours aarch64 glibc" yes "target/$A64_GNU/release/mosquitto" 1200000
row "ours aarch64 musl" no "target/$A64_MUSL/release/mosquitto" 1000000
row "ours x86_64 musl, --profile small" no "target/$X64_MUSL/small/mosquitto" 1000000
row "ours aarch64 musl, --profile small" no "target/$A64_MUSL/small/mosquitto" 1000000
row "Debian mosquitto 2.0.11 x86_64" yes "$MOSQUITTO" ""
echo

brokers=("ours-x86_64=target/release/mosquitto" "mosquitto=$MOSQUITTO")
usage=""
if [ -x "target/$A64_MUSL/release/mosquitto" ]; then
    # -h prints the usage and exits with status 3, as mosquitto's does.
    usage=$("target/$A64_MUSL/release/mosquitto" -h 2>&1 || true)
fi
if grep -q '^Usage: mosquitto' <<<"$usage"; then
    brokers+=("ours-aarch64-musl-qemu=target/$A64_MUSL/release/mosquitto")
else
    echo "footprint: the aarch64 build does not run here (qemu-user-binfmt?): left out" >&2
fi
echo "## RSS"
echo
ulimit -n 65536 2>/dev/null || ulimit -n "$(ulimit -Hn)" 2>/dev/null || true
python3 bench/footprint.py "$@" "${brokers[@]}"
