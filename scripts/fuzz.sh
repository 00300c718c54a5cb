#!/usr/bin/env bash
# Builds and runs the cargo-fuzz targets in fuzz/ on the stable toolchain.
#
#   scripts/fuzz.sh [SECONDS] [TARGET...]
#
# Runs each TARGET (default: all of them) for SECONDS (default 60), one after
# the other, keeping each target's corpus in fuzz/corpus/<target> (seeded on
# first use from tests/fixtures/python_hierarchy.jsonl) and any crash in
# fuzz/artifacts/<target>/. Prints per target the executions and the crash
# artifact, if any, and exits non-zero if any target crashed (a panic, a
# failed invariant, a stack overflow, a timeout or running out of memory).
#
# Environment:
#   FUZZ_TOOLCHAIN   rustup toolchain (default: stable)
#   FUZZ_SANITIZER   none (default) | address | leak | memory | thread.
#                    `none` builds on stable as is; a sanitizer needs nightly
#                    `-Z` flags, which stable accepts with RUSTC_BOOTSTRAP=1
#                    (set here automatically).
#   FUZZ_ARGS        extra libFuzzer arguments, e.g. "-max_len=65536"
#   FUZZ_TIMEOUT     seconds one input may take before it counts as a hang
#                    (default 10)
#   KC_FUZZ_LENIENT  1: relax the exact limit checks in the targets (see
#                    fuzz/fuzz_targets/common.rs)
#   CARGO_FUZZ_VERSION  cargo-fuzz version to install when missing (0.13.2)
#
# Requires cargo-fuzz (installed with `cargo install --locked` if missing) and
# a C++ compiler (libfuzzer-sys builds libFuzzer). python3 is used to write
# the seed corpora, when present.
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"

seconds="${1:-60}"
if ! [[ "$seconds" =~ ^[0-9]+$ ]]; then
    echo "usage: $0 [SECONDS] [TARGET...]" >&2
    exit 2
fi
shift || true

all_targets=(json msgpack raw poly_json poly_msgpack headers)
if [ "$#" -gt 0 ]; then
    targets=("$@")
else
    targets=("${all_targets[@]}")
fi
for t in "${targets[@]}"; do
    if [ ! -f "fuzz/fuzz_targets/$t.rs" ]; then
        echo "unknown fuzz target: $t (have: ${all_targets[*]})" >&2
        exit 2
    fi
done

toolchain="${FUZZ_TOOLCHAIN:-stable}"
sanitizer="${FUZZ_SANITIZER:-none}"
timeout="${FUZZ_TIMEOUT:-10}"
if [ "$sanitizer" != none ]; then
    # cargo-fuzz passes -Zsanitizer=...: let stable accept nightly flags.
    export RUSTC_BOOTSTRAP=1
fi

if ! cargo fuzz --version >/dev/null 2>&1; then
    echo "== installing cargo-fuzz"
    cargo install cargo-fuzz --locked --version "${CARGO_FUZZ_VERSION:-0.13.2}"
fi

fuzz=(cargo "+$toolchain" fuzz)

# ---------------------------------------------------------------- seeds --

seed_corpora() {
    local fixture="tests/fixtures/python_hierarchy.jsonl"
    local missing=()
    for t in "${targets[@]}"; do
        if [ ! -d "fuzz/corpus/$t" ] || [ -z "$(ls -A "fuzz/corpus/$t" 2>/dev/null)" ]; then
            missing+=("$t")
        fi
    done
    [ "${#missing[@]}" -gt 0 ] || return 0
    [ -f "$fixture" ] || { echo "no $fixture: corpora start empty"; return 0; }
    if ! command -v python3 >/dev/null 2>&1; then
        # Without python: the JSON lines as they are.
        for t in "${missing[@]}"; do
            mkdir -p "fuzz/corpus/$t"
            case "$t" in
            json | poly_json | headers)
                local n=0
                while IFS= read -r line; do
                    printf '%s' "$line" >"fuzz/corpus/$t/seed-$n"
                    n=$((n + 1))
                done <"$fixture"
                ;;
            esac
        done
        return 0
    fi
    python3 - "$fixture" "${missing[@]}" <<'PY'
import json, os, struct, sys

fixture, targets = sys.argv[1], sys.argv[2:]
lines = [l for l in open(fixture, encoding="utf-8").read().splitlines() if l.strip()]

def moved(line):
    """The same object with its "type" key last: the tag not leading."""
    obj = json.loads(line)
    if isinstance(obj, dict) and "type" in obj:
        tag = obj.pop("type")
        obj["type"] = tag
    return json.dumps(obj, ensure_ascii=False, separators=(",", ":"))

def mp(v):
    """MessagePack, as rmp-serde reads it (maps with string keys)."""
    if v is None:
        return b"\xc0"
    if v is True:
        return b"\xc3"
    if v is False:
        return b"\xc2"
    if isinstance(v, int):
        if 0 <= v < 128:
            return bytes([v])
        if -32 <= v < 0:
            return struct.pack("b", v)
        if v >= 0:
            for fmt, tag in (("B", 0xCC), ("H", 0xCD), ("I", 0xCE), ("Q", 0xCF)):
                if v < 1 << (8 * struct.calcsize(fmt)):
                    return bytes([tag]) + struct.pack(">" + fmt, v)
        for fmt, tag in (("b", 0xD0), ("h", 0xD1), ("i", 0xD2), ("q", 0xD3)):
            if v >= -(1 << (8 * struct.calcsize(fmt) - 1)):
                return bytes([tag]) + struct.pack(">" + fmt, v)
        raise ValueError(v)
    if isinstance(v, float):
        return b"\xcb" + struct.pack(">d", v)
    if isinstance(v, str):
        b = v.encode("utf-8")
        n = len(b)
        if n < 32:
            return bytes([0xA0 | n]) + b
        if n < 256:
            return b"\xd9" + bytes([n]) + b
        if n < 65536:
            return b"\xda" + struct.pack(">H", n) + b
        return b"\xdb" + struct.pack(">I", n) + b
    if isinstance(v, list):
        n = len(v)
        head = bytes([0x90 | n]) if n < 16 else b"\xdc" + struct.pack(">H", n)
        return head + b"".join(mp(x) for x in v)
    if isinstance(v, dict):
        n = len(v)
        head = bytes([0x80 | n]) if n < 16 else b"\xde" + struct.pack(">H", n)
        return head + b"".join(mp(k) + mp(x) for k, x in v.items())
    raise TypeError(type(v))

def put(target, n, data):
    if isinstance(data, str):
        data = data.encode("utf-8")
    with open(os.path.join("fuzz", "corpus", target, f"seed-{n:04d}"), "wb") as f:
        f.write(data)

content_types = ["application/json", "application/msgpack", "text/plain", ""]
for t in targets:
    os.makedirs(os.path.join("fuzz", "corpus", t), exist_ok=True)
    n = 0
    for i, line in enumerate(lines):
        variants = [line, moved(line)]
        tag = json.loads(line).get("type", "")
        if t == "json":
            for v in variants:
                put(t, n, v); n += 1
        elif t == "poly_json":
            # As is (no hints), and behind a selector byte choosing hints.
            for j, v in enumerate(variants):
                put(t, n, v); n += 1
                put(t, n, bytes([(i + j) % 64]) + v.encode()); n += 1
        elif t == "msgpack":
            for v in variants:
                put(t, n, mp(json.loads(v))); n += 1
        elif t == "poly_msgpack":
            for j, v in enumerate(variants):
                b = mp(json.loads(v))
                put(t, n, b); n += 1
                put(t, n, bytes([(i + j) % 64]) + b); n += 1
        elif t == "headers":
            ct = content_types[i % len(content_types)]
            for j, v in enumerate(variants):
                body = v.encode() if ct != "application/msgpack" else mp(json.loads(v))
                ty = tag if (i + j) % 3 else "Person"
                put(t, n, ct.encode() + b"\xff" + ty.encode() + b"\xfftype\xff" + body)
                n += 1
        elif t == "raw":
            if i < 8:
                put(t, n, line); n += 1
    # Nesting just within the depth limits (8 and 128 levels): one mutation
    # away from the boundary.
    if t in ("json", "poly_json"):
        for d in (7, 8, 127):
            put(t, n, "[" * d + "]" * d); n += 1
            put(t, n, '{"a":' * d + "1" + "}" * d); n += 1
    if t in ("msgpack", "poly_msgpack"):
        for d in (7, 8, 127):
            put(t, n, b"\x91" * d + b"\xc0"); n += 1
            put(t, n, b"\x81\xa1a" * d + b"\x01"); n += 1
    if t == "raw":
        for extra in [b"", b"hello", "Zoë 李".encode(), b"\xff\xfe", b"ok\xc3", b"\xed\xa0\x80"]:
            put(t, n, extra); n += 1
    print(f"   seeded fuzz/corpus/{t} with {n} inputs")
PY
}

# ---------------------------------------------------------------- build --

echo "== building ${targets[*]} (toolchain $toolchain, sanitizer $sanitizer)"
build_start=$(date +%s)
if [ "${#targets[@]}" -eq "${#all_targets[@]}" ]; then
    "${fuzz[@]}" build -s "$sanitizer"
else
    for t in "${targets[@]}"; do
        "${fuzz[@]}" build -s "$sanitizer" "$t"
    done
fi
echo "   build took $(($(date +%s) - build_start)) s"

seed_corpora

# ------------------------------------------------------------------ run --

mkdir -p fuzz/logs
crashed=0
summary=()
for t in "${targets[@]}"; do
    log="fuzz/logs/$t.log"
    echo "== fuzzing $t for ${seconds}s (log: $log)"
    mkdir -p "fuzz/corpus/$t" "fuzz/artifacts/$t"
    status=0
    # shellcheck disable=SC2086 # FUZZ_ARGS is a list of arguments.
    "${fuzz[@]}" run -s "$sanitizer" "$t" "fuzz/corpus/$t" -- \
        -max_total_time="$seconds" -timeout="$timeout" -print_final_stats=1 \
        ${FUZZ_ARGS:-} >"$log" 2>&1 || status=$?
    execs=$(grep -oE 'stat::number_of_executed_units:[[:space:]]*[0-9]+' "$log" | tail -1 | grep -oE '[0-9]+$' || true)
    if [ -z "$execs" ]; then
        # No final stats (the run crashed): the last status line says how far it got.
        execs=$(grep -oE '^#[0-9]+' "$log" | tail -1 | tr -d '#' || true)
        [ -n "$execs" ] && execs="~$execs"
    fi
    rate=$(grep -oE 'stat::average_exec_per_sec:[[:space:]]*[0-9]+' "$log" | tail -1 | grep -oE '[0-9]+$' || true)
    done_line=$(grep -E '^#[0-9]+[[:space:]]+DONE' "$log" | tail -1 || true)
    artifact=$(grep -oE 'Test unit written to [^ ]+' "$log" | tail -1 | sed 's/^Test unit written to //' || true)
    corpus_n=$(find "fuzz/corpus/$t" -type f | wc -l)
    line="$t: ${execs:-?} executions"
    [ -n "$rate" ] && line+=" (${rate}/s)"
    line+=", corpus $corpus_n"
    if [ -n "$artifact" ] || [ "$status" -ne 0 ]; then
        crashed=1
        line+=", CRASH: ${artifact:-exit status $status}"
        # The panic message (two lines after "panicked at"), or libFuzzer's
        # own diagnosis (stack overflow, timeout, out of memory).
        grep -m1 -A1 'panicked at' "$log" | sed 's/^/   /' || true
        grep -m1 -E '(ERROR: libFuzzer|SUMMARY: libFuzzer)' "$log" | sed 's/^/   /' || true
        echo "   reproduce: cargo +$toolchain fuzz run -s $sanitizer $t ${artifact:-<artifact>}"
        echo "   minimize:  cargo +$toolchain fuzz tmin -s $sanitizer $t ${artifact:-<artifact>}"
    fi
    [ -n "$done_line" ] && echo "   $done_line"
    echo "   $line"
    summary+=("$line")
done

echo "== summary (${seconds}s per target)"
printf '   %s\n' "${summary[@]}"
if [ "$crashed" -ne 0 ]; then
    echo "== crashes found: see fuzz/artifacts/ and fuzz/logs/" >&2
    exit 1
fi
echo "== no crashes"
