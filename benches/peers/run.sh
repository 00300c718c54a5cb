#!/usr/bin/env bash
# The race with the peers (BENCHMARKS.md): kafka-codec, ruststream-rdkafka,
# raw rdkafka + serde_json and aiokafka + the sample's JSON encoder, on one
# broker, the same records, in one run.
#
#   benches/peers/run.sh [ROUNDS [RECORDS]]     # default: 3 rounds of 20000
#
# Every round, each contender (in turn; the order reverses every other
# round) creates a fresh 4-partition topic, produces RECORDS to it, reads
# them back with one consumer, then with a group of 3 members in one process.
# Each is its own process, so its peak RSS is one contender's. The result
# lines go to docs/peers-runs.jsonl; docs/peers.csv (best and median per
# contender and measure) and docs/peers.svg are made from them by
# scripts/peers-chart.py. Uses KAFKA_BROKERS if set, else starts Tansu on
# 127.0.0.1:19400 (scripts/tansu.sh) and stops it at the end. aiokafka is
# installed (pinned) into a venv under ~/.cache/kafka-codec.
set -euo pipefail

here=$(cd -- "$(dirname -- "${BASH_SOURCE[0]}")" && pwd -P)
root=$(cd -- "$here/../.." && pwd -P)
rounds=${1:-3} n=${2:-20000}
partitions=4 members=3
aiokafka=aiokafka==0.14.0
venv=${PEERS_VENV:-$HOME/.cache/kafka-codec/peers-venv}
runs=$root/docs/peers-runs.jsonl
contenders=(kafka-codec ruststream raw aiokafka)

log() { echo "run.sh: $*" >&2; }

if ! "$venv/bin/pip" show --quiet "${aiokafka%==*}" 2>/dev/null ||
    [[ $("$venv/bin/pip" show "${aiokafka%==*}" | sed -n 's/^Version: //p') != "${aiokafka#*==}" ]]; then
    log "installing $aiokafka into $venv"
    python3.11 -m venv "$venv"
    "$venv/bin/pip" install --quiet --disable-pip-version-check "$aiokafka"
fi

records=$(mktemp)
cleanup() {
    rm -f -- "$records"
    [[ -z ${started:-} ]] || "$root/scripts/tansu.sh" stop
}
trap cleanup EXIT
if [[ -z ${KAFKA_BROKERS:-} ]]; then
    export TANSU_DIR=${TANSU_DIR:-$root/.tansu-peers}
    export "$("$root/scripts/tansu.sh" start 19400)"
    started=1
fi
log "broker: $KAFKA_BROKERS"

cargo build --release --quiet --manifest-path "$here/Cargo.toml"
peers=$here/target/release/peers
"$peers" dump "$n" >"$records"

# One measure of one contender: its result line, tagged with the round.
measure() { # ROUND WHO COMMAND TOPIC [OPTIONS]
    local round=$1 who=$2 cmd=$3 topic=$4
    shift 4
    if [[ $who == aiokafka ]]; then
        set -- "$venv/bin/python" "$here/aiokafka_peer.py" "$cmd" "$topic" "$n" --records "$records" "$@"
    else
        set -- "$peers" "$cmd" "$who" "$topic" "$n" "$@"
    fi
    timeout 600 "$@" | sed "s/^{/{\"round\": $round, /" | tee -a "$runs"
}

log "load average: $(cut -d" " -f1-3 /proc/loadavg) (nproc $(nproc))"
: >"$runs"
for ((round = 1; round <= rounds; round++)); do
    order=("${contenders[@]}")
    ((round % 2)) || mapfile -t order < <(printf '%s\n' "${contenders[@]}" | tac)
    for who in "${order[@]}"; do
        topic=peers-$who-$round-$$
        log "round $round/$rounds: $who on $topic"
        "$peers" create "$topic" "$partitions"
        measure "$round" "$who" produce "$topic"
        measure "$round" "$who" consume "$topic"
        measure "$round" "$who" consume "$topic" --group "$topic-group$members" --members "$members"
    done
done

log "load average: $(cut -d" " -f1-3 /proc/loadavg)"
python3 "$root/scripts/peers-chart.py" --from-runs "$runs" \
    --command "benches/peers/run.sh $rounds $n"
