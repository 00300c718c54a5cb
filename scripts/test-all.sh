#!/usr/bin/env bash
# Runs the whole test suite on a fresh machine: installs the AsyncAPI parser
# (node), installs and starts a Tansu broker on loopback, runs every test against it, runs the Kafka tests once
# more against the embedded mock cluster, restarts a durable Tansu mid-run to
# check nothing acknowledged is lost, and stops the brokers.
set -euo pipefail
cd "$(dirname "$0")/.."

scripts/tansu.sh install >/dev/null
scripts/asyncapi-parser.sh install  # the real AsyncAPI parser, for tests/asyncapi.rs
brokers=$(scripts/tansu.sh start "${TANSU_PORT:-19092}")
trap 'scripts/tansu.sh stop >/dev/null 2>&1 || true; scripts/durable-broker.sh stop >/dev/null 2>&1 || true' EXIT
export "${brokers?}"
export KAFKA_BROKER_NAME=tansu
echo "real broker: $KAFKA_BROKERS (Tansu)"

cargo test --workspace --all-features
echo "the tests the mock cluster cannot run (ignored without a real broker), on Tansu"
cargo test --all-features --test commits --test exactly_once -- --ignored

echo "the Kafka tests again, on the embedded mock cluster"
KAFKA_BROKERS= cargo test --all-features --test kafka --test faults --test failures --test partitioned --test exactly_once --test tracing --test metrics --test evolution

echo "the examples that are a feature's done-when, on the embedded mock cluster"
KAFKA_BROKERS= cargo run --quiet --all-features --example quickstart
KAFKA_BROKERS= cargo run --quiet --all-features --example evolution
echo "the service example stops on SIGTERM, having handled and committed"
bash scripts/service-sigterm.sh

echo "a durable Tansu, restarted mid-run"
scripts/durable-broker.sh install >/dev/null
durable=$(scripts/durable-broker.sh start "${TANSU_DURABLE_PORT:-19094}")
KAFKA_BROKERS=${durable#KAFKA_BROKERS=} KAFKA_RESTART_CMD="$PWD/scripts/durable-broker.sh restart" \
    cargo test --all-features --test broker_restart -- --ignored --nocapture --test-threads=1
