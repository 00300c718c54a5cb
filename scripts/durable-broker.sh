#!/usr/bin/env bash
# A Tansu broker with durable (SQLite) storage, for the broker-restart test.
#
#   scripts/durable-broker.sh install        # build it once (cargo install, ~15 min cold)
#   scripts/durable-broker.sh start [PORT]   # prints KAFKA_BROKERS=127.0.0.1:PORT
#   scripts/durable-broker.sh restart        # stop and start on the same port and data
#   scripts/durable-broker.sh stop
#
# The PyPI wheel's Tansu keeps data in memory only, so this one is built
# from crates.io with the `libsql` feature. It is cached under
# $TANSU_DURABLE_ROOT (default ~/.cache/kafka-codec/tansu-durable), or use
# TANSU_DURABLE_BIN to point at a build. Data lives in .tansu/durable/data.
set -euo pipefail
repo=$(cd -- "$(dirname -- "${BASH_SOURCE[0]}")/.." && pwd -P)
root=${TANSU_DURABLE_ROOT:-$HOME/.cache/kafka-codec/tansu-durable}
bin=${TANSU_DURABLE_BIN:-$root/bin/tansu}
dir=$repo/.tansu/durable

install() {
    if [[ -x $bin ]]; then
        printf '%s\n' "$bin"
        return
    fi
    echo "durable-broker.sh: building Tansu with durable storage (cargo install, ~15 min cold)" >&2
    cargo install tansu --version 0.6.0 --locked --features dynostore,libsql \
        --root "$root" --target-dir "$root/target" >&2
    rm -rf "$root/target"
    printf '%s\n' "$bin"
}

run() {
    mkdir -p "$dir/data"
    # The storage path is relative to the broker's working directory.
    cd "$dir"
    TANSU_DIR=$dir TANSU_BIN=$bin TANSU_STORAGE_ENGINE=sqlite://data/tansu.db \
        "$repo/scripts/tansu.sh" "$@"
}

case ${1:-} in
install) install ;;
start)
    install >/dev/null
    rm -rf "$dir/data"
    run start "${2:-19094}"
    ;;
restart)
    port=$(cat "$dir/tansu.port")
    run stop >&2
    run start "$port" >/dev/null
    ;;
stop) run stop ;;
*)
    echo "usage: $0 install|start [PORT]|restart|stop" >&2
    exit 2
    ;;
esac
