#!/usr/bin/env bash
# Fails when the library's modules import each other in a ring.
#
# cargo-modules (installed here if missing) draws every item the library
# uses; this folds its "uses" edges onto the modules that define the items
# and looks for rings between modules. A module using its own descendants
# (a parent re-exporting or composing its children) is structure, not a
# dependency, and is left out; everything else counts: siblings
# (`kafka::consumer` and `kafka::partitioned`) and modules in other trees
# (`poly` and `version`).
#
# `cargo modules dependencies --acyclic` alone checks the item graph, where
# a type and its own constructor already form a cycle.
set -euo pipefail
cd "$(dirname "$0")/.."

version=0.27.0  # the last that builds on rustc 1.95
if ! cargo modules --version 2>/dev/null | grep -q "$version"; then
    cargo install --quiet --locked cargo-modules --version "$version"
fi
cargo modules dependencies -p kafka-codec --lib --all-features \
    --no-externs --no-sysroot \
    | python3 -c '
import re, sys

mods, edges = set(), []
for line in sys.stdin:
    node = re.match(r"\s*\"([^\"]+)\" \[label=\"[^\"]*\|[^\"]*\".*// \"(crate|mod)\" node", line)
    if node:
        mods.add(node.group(1))
    edge = re.match(r"\s*\"([^\"]+)\" -> \"([^\"]+)\" \[label=\"uses\"", line)
    if edge:
        edges.append(edge.groups())

def module(path):
    while path not in mods:
        path = path.rsplit("::", 1)[0]
    return path

graph = {}
for a, b in edges:
    ma, mb = module(a), module(b)
    if ma == mb or mb.startswith(ma + "::"):
        continue
    graph.setdefault(ma, set()).add(mb)

# Tarjan: strongly connected components of more than one module are rings.
index, low, stack, on, rings = {}, {}, [], set(), []
def visit(v):
    index[v] = low[v] = len(index)
    stack.append(v); on.add(v)
    for w in sorted(graph.get(v, ())):
        if w not in index:
            visit(w); low[v] = min(low[v], low[w])
        elif w in on:
            low[v] = min(low[v], index[w])
    if low[v] == index[v]:
        ring = []
        while True:
            w = stack.pop(); on.discard(w); ring.append(w)
            if w == v:
                break
        if len(ring) > 1:
            rings.append(sorted(ring))
sys.setrecursionlimit(10000)
for v in sorted(mods):
    if v not in index:
        visit(v)
if rings:
    for ring in rings:
        print("import ring:", ", ".join(ring))
        for a in ring:
            for b in sorted(graph.get(a, ())):
                if b in ring:
                    print(f"  {a} -> {b}")
    sys.exit(1)
print(f"no import ring among {len(mods)} modules ({sum(map(len, graph.values()))} module-to-module edges)")
'
