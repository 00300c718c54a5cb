#!/usr/bin/env bash
# Runs the whole test suite on a fresh machine: installs and starts a Tansu
# broker on loopback, runs every test against it, runs the Kafka tests once
# more against the embedded mock cluster, and stops the broker.
set -euo pipefail
cd "$(dirname "$0")/.."

scripts/tansu.sh install >/dev/null
brokers=$(scripts/tansu.sh start "${TANSU_PORT:-19092}")
trap 'scripts/tansu.sh stop >/dev/null 2>&1 || true' EXIT
export "${brokers?}"
echo "real broker: $KAFKA_BROKERS (Tansu)"

cargo test --workspace --all-features

echo "the Kafka tests again, on the embedded mock cluster"
KAFKA_BROKERS= cargo test --all-features --test kafka
