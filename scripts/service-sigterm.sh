#!/usr/bin/env bash
# The service example stops on SIGTERM: it finishes, commits, prints its
# totals and exits 0. Runs it on the embedded cluster (its 40 demo records),
# sends SIGTERM once it has handled them and reported its health, and
# checks the exit status and the totals.
set -euo pipefail
cd "$(dirname "$0")/.."
cargo build --quiet --all-features --example service
log=$(mktemp)
trap 'rm -f "$log"' EXIT
started=$(date +%s)
KAFKA_BROKERS= target/debug/examples/service >"$log" 2>&1 &
pid=$!
for _ in $(seq 1 120); do
    grep -q '^health: live true' "$log" && break
    sleep 0.25
done
if ! grep -q '^health: live true' "$log"; then
    echo "service-sigterm: no health line within 30 s"; cat "$log"; kill -KILL "$pid" || true; exit 1
fi
kill -TERM "$pid"
status=0
wait "$pid" || status=$?
if [ "$status" -ne 0 ]; then
    echo "service-sigterm: exit status $status after SIGTERM"; cat "$log"; exit 1
fi
grep -q 'Counts { handled: 40, skipped: 0, dead_lettered: 0' "$log" || {
    echo "service-sigterm: not every record handled"; cat "$log"; exit 1
}
# The demo stops itself after 15 s: a stop well before is SIGTERM's.
took=$(( $(date +%s) - started ))
if [ "$took" -ge 13 ]; then
    echo "service-sigterm: took ${took} s: the demo's own stop, not SIGTERM"; exit 1
fi
echo "service-sigterm: stopped on SIGTERM, 40 handled, exit 0"
