#!/usr/bin/env bash
# Builds and runs the cargo-fuzz targets in fuzz/ on the stable toolchain.
#
#   scripts/fuzz.sh [SECONDS] [TARGET...]
#
# Runs each TARGET (default: all) for SECONDS (default 60), one after the
# other. Each run starts from the committed seeds in fuzz/seeds/<target>
# (written by `cargo run --manifest-path fuzz/Cargo.toml --example seed`)
# and grows fuzz/corpus/<target>; crashes go to fuzz/artifacts/<target>/ and
# logs to fuzz/logs/. Prints per target the executions and any crash, and
# exits non-zero if a target crashed (panic, failed invariant, stack
# overflow, timeout, out of memory).
#
# Environment:
#   FUZZ_TOOLCHAIN   rustup toolchain (default: stable)
#   FUZZ_SANITIZER   none (default) | address | leak | memory | thread; a
#                    sanitizer needs nightly -Z flags, which stable accepts
#                    with RUSTC_BOOTSTRAP=1 (set here)
#   FUZZ_ARGS        extra libFuzzer arguments, e.g. "-max_len=65536"
#   FUZZ_TIMEOUT     seconds one input may take before it is a hang (10)
#   KC_FUZZ_LENIENT  1: relax the exact limit checks (fuzz/fuzz_targets/common.rs)
#   CARGO_FUZZ_VERSION  cargo-fuzz version to install when missing (0.13.2)
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

seconds=${1:-60}
[[ $seconds =~ ^[0-9]+$ ]] || {
    echo "usage: $0 [SECONDS] [TARGET...]" >&2
    exit 2
}
shift || true
all_targets=(json msgpack raw poly_json poly_msgpack headers)
targets=("$@")
((${#targets[@]})) || targets=("${all_targets[@]}")
for t in "${targets[@]}"; do
    [[ -f fuzz/fuzz_targets/$t.rs ]] || {
        echo "unknown fuzz target: $t (have: ${all_targets[*]})" >&2
        exit 2
    }
done

toolchain=${FUZZ_TOOLCHAIN:-stable}
sanitizer=${FUZZ_SANITIZER:-none}
[[ $sanitizer == none ]] || export RUSTC_BOOTSTRAP=1
if ! cargo fuzz --version >/dev/null 2>&1; then
    echo "== installing cargo-fuzz"
    cargo install cargo-fuzz --locked --version "${CARGO_FUZZ_VERSION:-0.13.2}"
fi
fuzz=(cargo "+$toolchain" fuzz)

echo "== building ${targets[*]} (toolchain $toolchain, sanitizer $sanitizer)"
build_start=$SECONDS
if ((${#targets[@]} == ${#all_targets[@]})); then
    "${fuzz[@]}" build -s "$sanitizer"
else
    for t in "${targets[@]}"; do "${fuzz[@]}" build -s "$sanitizer" "$t"; done
fi
echo "   build took $((SECONDS - build_start)) s"

# The last value of a libFuzzer final statistic in $log.
final_stat() { grep -oE "stat::$1:[[:space:]]*[0-9]+" "$log" | grep -oE '[0-9]+$' | tail -1 || true; }

mkdir -p fuzz/logs
crashed=0
summary=()
for t in "${targets[@]}"; do
    log=fuzz/logs/$t.log
    echo "== fuzzing $t for ${seconds}s (log: $log)"
    mkdir -p "fuzz/corpus/$t" "fuzz/artifacts/$t"
    status=0
    # New inputs go to the first directory; fuzz/seeds/$t is only read.
    # shellcheck disable=SC2086 # FUZZ_ARGS is a list of arguments.
    "${fuzz[@]}" run -s "$sanitizer" "$t" "fuzz/corpus/$t" "fuzz/seeds/$t" -- \
        -max_total_time="$seconds" -timeout="${FUZZ_TIMEOUT:-10}" -print_final_stats=1 \
        ${FUZZ_ARGS:-} >"$log" 2>&1 || status=$?
    execs=$(final_stat number_of_executed_units)
    # Without final stats (a crash), the last status line says how far it got.
    [[ -n $execs ]] || execs=$(grep -oE '^#[0-9]+' "$log" | tail -1 | tr '#' '~' || true)
    rate=$(final_stat average_exec_per_sec)
    artifact=$(grep -oE 'Test unit written to [^ ]+' "$log" | tail -1 | sed 's/^Test unit written to //' || true)
    line="$t: ${execs:-?} executions${rate:+ (${rate}/s)}, corpus $(find "fuzz/corpus/$t" -type f | wc -l)"
    if [[ -n $artifact ]] || ((status != 0)); then
        crashed=1
        line+=", CRASH: ${artifact:-exit status $status}"
        # The panic message, or libFuzzer's diagnosis (overflow, timeout, OOM).
        grep -m1 -A1 'panicked at' "$log" | sed 's/^/   /' || true
        grep -m1 -E '(ERROR|SUMMARY): libFuzzer' "$log" | sed 's/^/   /' || true
        echo "   reproduce: cargo +$toolchain fuzz run -s $sanitizer $t ${artifact:-<artifact>}"
        echo "   minimize:  cargo +$toolchain fuzz tmin -s $sanitizer $t ${artifact:-<artifact>}"
    fi
    echo "   $line"
    summary+=("$line")
done

echo "== summary (${seconds}s per target)"
printf '   %s\n' "${summary[@]}"
if ((crashed)); then
    echo "== crashes found: see fuzz/artifacts/ and fuzz/logs/" >&2
    exit 1
fi
echo "== no crashes"
