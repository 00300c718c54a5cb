#!/usr/bin/env bash
# Installs the official AsyncAPI parser (@asyncapi/parser, run by node) once
# into ~/.cache/kafka-codec/asyncapi, and validates AsyncAPI documents with
# it: tests/asyncapi.rs calls `scripts/asyncapi-parser.sh validate FILE`.
#
#   scripts/asyncapi-parser.sh install          # once, before the tests (CI)
#   scripts/asyncapi-parser.sh validate doc.json
#
# `validate` installs first if needed, prints the parser's diagnostics as
# JSON lines and exits non-zero when any has error severity.
set -euo pipefail

VERSION=3.6.6
DIR=${KAFKA_CODEC_ASYNCAPI_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/kafka-codec/asyncapi}
HERE=$(cd "$(dirname "$0")" && pwd)

install() {
    command -v node >/dev/null || { echo "asyncapi-parser.sh: node is not installed (node 18+ needed)" >&2; exit 127; }
    command -v npm >/dev/null || { echo "asyncapi-parser.sh: npm is not installed" >&2; exit 127; }
    if [ "$(cat "$DIR/.installed" 2>/dev/null)" != "$VERSION" ]; then
        mkdir -p "$DIR"
        npm install --silent --no-audit --no-fund --prefix "$DIR" "@asyncapi/parser@$VERSION" >&2
        echo "$VERSION" >"$DIR/.installed"
    fi
}

case "${1:-}" in
install)
    install
    ;;
validate)
    [ $# -eq 2 ] || { echo "usage: $0 validate FILE" >&2; exit 2; }
    install
    NODE_PATH="$DIR/node_modules" node "$HERE/asyncapi-validate.mjs" "$DIR/node_modules/@asyncapi/parser" "$2"
    ;;
*)
    echo "usage: $0 install | validate FILE" >&2
    exit 2
    ;;
esac
