#!/usr/bin/env python3
"""Draws the headline chart of BENCHMARKS.md from the bench results CSV.

    python3 scripts/bench-chart.py            # docs/bench-headline.csv -> docs/bench-encoding.svg
    python3 scripts/bench-chart.py --check    # exit 1 if the committed SVG is not what the CSV gives

The CSV has one row per bar, in chart order:

    label       the bar's label
    bench       `codec` (benches/codec.rs, criterion) or `e2e` (benches/e2e/main.rs)
    group       codec: the criterion group (`json/decode`); e2e: the side (`producer`, `consumer`)
    framework   what the crate runs (codec: the criterion function; e2e: `send_to`, `next`)
    baseline    the raw baseline it is divided by
    payload     codec: the payload label of the bench (`1KB`, `Order-1KB`, `Employee`); e2e: sizes
    broker      e2e only: the broker name as the bench prints it (`embedded`, `tansu`)
    ratio       framework throughput / baseline throughput; above 1 the crate is faster
    ratio_kind  `paired` (codec: median of interleaved batches, the one checked against the
                target), `criterion` (codec: ratio of criterion's mean estimates, the means of
                its samples), or `e2e best round` (e2e: best round's msgs/s, typed over raw)
    target      the ratio the crate promises, empty if the bar is context only
    run         which run the figure is from
    command     the command that runs that bench

Rebuilding the CSV from a bench run (then the chart is redrawn from it):

    cargo bench --bench codec --all-features
    python3 scripts/bench-chart.py --from-criterion [CRITERION_HOME]

reads `<criterion home>/ratios.csv`, which the codec bench writes at the end of
a run: the paired ratio of each pair it measured, else (no paired figure) the
ratio of criterion's means, marked `criterion`. The bench computes those means
itself from the samples it timed for criterion, so nothing here reads
criterion's own files (their layout is private to criterion). The criterion
home defaults to $CRITERION_HOME, else $CARGO_TARGET_DIR/criterion, else
target/criterion.

    E2E_BROKER_NAME=tansu cargo bench --bench e2e --all-features | tee /tmp/e2e.out
    python3 scripts/bench-chart.py --from-e2e /tmp/e2e.out

reads the markdown table of ratios that closes the e2e bench's output.

Only rows already in the CSV are updated (the CSV chooses the bars); a bar
the run did not measure keeps its figure and its `run`, with a warning.
Python 3 standard library only; the output depends on the CSV alone.
"""

import argparse
import csv
import datetime
import difflib
import io
import os
import re
import sys
from decimal import ROUND_CEILING, ROUND_HALF_UP, Decimal, InvalidOperation
from pathlib import Path
from xml.sax.saxutils import escape

ROOT = Path(__file__).resolve().parent.parent
DEFAULT_CSV = ROOT / "docs" / "bench-headline.csv"
DEFAULT_SVG = ROOT / "docs" / "bench-encoding.svg"

COLUMNS = [
    "label", "bench", "group", "framework", "baseline", "payload", "broker",
    "ratio", "ratio_kind", "target", "run", "command",
]
BENCHES = {"codec", "e2e"}
KINDS = {"paired", "criterion", "e2e best round"}

# Layout, in SVG pixels.
WIDTH = 800
LEFT = 330  # x of the ratio 0; labels end 8 px to its left
PLOT = 430  # width of the plot area
TOP = 60  # y of the first bar
PITCH = 24  # distance between bars
BAR = 15  # bar height
GRID_STEP = Decimal("0.5")

GREEN, RED, GREY = "#2e9d4a", "#d0453a", "#999"


class Fail(Exception):
    pass


def rel(path):
    try:
        return str(Path(path).resolve().relative_to(ROOT))
    except ValueError:
        return str(path)


def decimal(text, what):
    try:
        value = Decimal(text)
    except InvalidOperation:
        raise Fail(f"{what}: not a number: {text!r}") from None
    if not value.is_finite() or value < 0:
        raise Fail(f"{what}: must be a finite number >= 0: {text!r}")
    return value


def read_rows(path):
    try:
        text = Path(path).read_text(encoding="utf-8")
    except OSError as e:
        raise Fail(f"cannot read {rel(path)}: {e.strerror}") from None
    reader = csv.DictReader(io.StringIO(text))
    if reader.fieldnames != COLUMNS:
        raise Fail(f"{rel(path)}: header must be {','.join(COLUMNS)}")
    rows, keys = [], set()
    for n, row in enumerate(reader, start=2):
        where = f"{rel(path)}:{n}"
        if None in row or any(v is None for v in row.values()):
            raise Fail(f"{where}: expected {len(COLUMNS)} fields")
        if row["bench"] not in BENCHES:
            raise Fail(f"{where}: bench must be one of {sorted(BENCHES)}")
        if row["ratio_kind"] not in KINDS:
            raise Fail(f"{where}: ratio_kind must be one of {sorted(KINDS)}")
        if not row["label"]:
            raise Fail(f"{where}: empty label")
        decimal(row["ratio"], f"{where}: ratio")
        if row["target"]:
            decimal(row["target"], f"{where}: target")
        key = row_key(row)
        if key in keys:
            raise Fail(f"{where}: a second row for {key}")
        keys.add(key)
        rows.append(row)
    if not rows:
        raise Fail(f"{rel(path)}: no rows")
    return rows


def row_key(row):
    return (row["bench"], row["group"], row["framework"], row["baseline"], row["payload"], row["broker"])


def write_rows(path, rows):
    out = io.StringIO()
    writer = csv.DictWriter(out, fieldnames=COLUMNS, lineterminator="\n")
    writer.writeheader()
    writer.writerows(rows)
    Path(path).write_text(out.getvalue(), encoding="utf-8")


# ---------------------------------------------------------------------------
# The chart


def fmt(x):
    return f"{x:.1f}"


def render(rows, csv_name):
    ratios = [Decimal(r["ratio"]) for r in rows]
    targets = [Decimal(r["target"]) if r["target"] else None for r in rows]
    top = max(ratios + [t for t in targets if t is not None] + [Decimal(1)])
    # The axis ends at the next tenth above the largest figure.
    axis = (top * 10).to_integral_value(rounding=ROUND_CEILING) / 10
    if axis == top:
        axis += Decimal("0.1")
    scale = PLOT / float(axis)
    bottom = TOP + len(rows) * PITCH - 4
    height = bottom + 40
    x_of = lambda v: LEFT + float(v) * scale  # noqa: E731
    # A codec figure not from the paired measurement is starred.
    starred = [r["ratio_kind"] == "criterion" for r in rows]
    note = "; *: criterion means, not paired" if any(starred) else ""

    out = [
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{WIDTH}" height="{height}" '
        f'viewBox="0 0 {WIDTH} {height}" font-family="sans-serif" font-size="12">',
        f"<!-- generated by scripts/bench-chart.py from {csv_name}; do not edit by hand -->",
        f'<rect width="{WIDTH}" height="{height}" fill="#fff"/>',
        f'<text x="{fmt(WIDTH / 2)}" y="22" text-anchor="middle" font-size="15" font-weight="bold">'
        "kafka-codec vs the raw baseline, same run (paired ratio, higher is better)</text>",
        f'<text x="{fmt(WIDTH / 2)}" y="40" text-anchor="middle" fill="#555">'
        "bar = framework / baseline; black tick = target; green met, red missed, "
        f"grey: context, no target{note}</text>",
    ]
    v = GRID_STEP
    while v <= axis:
        x = fmt(x_of(v))
        out.append(f'<line x1="{x}" y1="50" x2="{x}" y2="{bottom}" stroke="#e3e3e3"/>')
        out.append(f'<text x="{x}" y="{bottom + 16}" text-anchor="middle" fill="#555">{v:.1f}×</text>')
        v += GRID_STEP
    for i, (row, ratio, target, star) in enumerate(zip(rows, ratios, targets, starred)):
        y = TOP + i * PITCH
        width = float(ratio) * scale
        color = GREY if target is None else GREEN if ratio >= target else RED
        shown = ratio.quantize(Decimal("0.01"), rounding=ROUND_HALF_UP)
        out.append(f'<text x="{LEFT - 8}" y="{y + 11}" text-anchor="end">{escape(row["label"])}</text>')
        out.append(f'<rect x="{LEFT}" y="{y}" width="{fmt(width)}" height="{BAR}" fill="{color}"/>')
        out.append(f'<text x="{fmt(LEFT + width + 4)}" y="{y + 11}">{shown}{"*" if star else ""}</text>')
        if target is not None:
            x = fmt(x_of(target))
            out.append(
                f'<line x1="{x}" y1="{y - 3}" x2="{x}" y2="{y + BAR + 3}" stroke="#000" stroke-width="2"/>'
            )
    out.append("</svg>")
    return "\n".join(out) + "\n"


# ---------------------------------------------------------------------------
# Reading a codec run (criterion home)


def criterion_home(arg):
    if arg:
        return Path(arg)
    if os.environ.get("CRITERION_HOME"):
        return Path(os.environ["CRITERION_HOME"])
    if os.environ.get("CARGO_TARGET_DIR"):
        return Path(os.environ["CARGO_TARGET_DIR"]) / "criterion"
    return ROOT / "target" / "criterion"


def read_ratios_csv(path):
    ratios = {}
    with open(path, encoding="utf-8", newline="") as f:
        for r in csv.DictReader(f):
            key = (r["group"], r["framework"], r["baseline"], r["payload"])
            if r.get("ratio_paired"):
                ratios[key] = (r["ratio_paired"], "paired")
            elif r.get("ratio_criterion"):
                ratios[key] = (r["ratio_criterion"], "criterion")
    return ratios


def day(mtime):
    return datetime.datetime.fromtimestamp(mtime, datetime.timezone.utc).strftime("%Y-%m-%d")


def from_criterion(rows, home, run):
    ratios_csv = home / "ratios.csv"
    if not ratios_csv.is_file():
        raise Fail(f"no {ratios_csv} (run: cargo bench --bench codec --all-features)")
    ratios = read_ratios_csv(ratios_csv)
    when = day(ratios_csv.stat().st_mtime)
    updated = 0
    for row in rows:
        if row["bench"] != "codec":
            continue
        key = (row["group"], row["framework"], row["baseline"], row["payload"])
        if key not in ratios:
            print(f"warning: not measured, kept from {row['run']}: {row['label']}", file=sys.stderr)
            continue
        ratio, kind = ratios[key]
        if kind == "criterion":
            print(f"warning: criterion ratio, not paired: {row['label']}", file=sys.stderr)
        row.update(ratio=ratio, ratio_kind=kind, run=run or f"bench run {when}")
        updated += 1
    return updated


# ---------------------------------------------------------------------------
# Reading an e2e run (its output)

E2E_ROW = re.compile(r"^\|\s*([^|]+?)\s*\|\s*([^|]+?)\s*\|\s*[\d.]+\s*\|\s*[\d.]+\s*\|\s*([\d.]+)\s*\|")


def from_e2e(rows, path, run):
    try:
        text = Path(path).read_text(encoding="utf-8")
    except OSError as e:
        raise Fail(f"cannot read {path}: {e.strerror}") from None
    table = {}
    for line in text.splitlines():
        m = E2E_ROW.match(line.strip())
        if m:
            table[(m.group(1), m.group(2))] = m.group(3)
    if not table:
        raise Fail(f"{path}: no ratio table (the output of cargo bench --bench e2e)")
    when = day(Path(path).stat().st_mtime)
    updated = 0
    for row in rows:
        if row["bench"] != "e2e":
            continue
        side = f"{row['group']}: {row['framework']} vs {row['baseline']}"
        ratio = table.get((row["broker"], side))
        if ratio is None:
            print(f"warning: not in {path}, kept from {row['run']}: {row['label']}", file=sys.stderr)
            continue
        row.update(ratio=ratio, ratio_kind="e2e best round", run=run or f"bench run {when}")
        updated += 1
    return updated


# ---------------------------------------------------------------------------


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--csv", default=DEFAULT_CSV, type=Path, help="results (default: %(default)s)")
    p.add_argument("--svg", default=DEFAULT_SVG, type=Path, help="chart (default: %(default)s)")
    p.add_argument("--check", action="store_true",
                   help="write nothing; exit 1 if the SVG differs from what the CSV gives")
    p.add_argument("--from-criterion", nargs="?", const="", metavar="CRITERION_HOME",
                   help="first update the codec rows of the CSV from a codec bench run")
    p.add_argument("--from-e2e", metavar="OUTPUT",
                   help="first update the e2e rows of the CSV from the saved output of an e2e run")
    p.add_argument("--run", help="the `run` column for updated rows (default: bench run <date>)")
    args = p.parse_args()
    if args.check and (args.from_criterion is not None or args.from_e2e):
        p.error("--check does not combine with --from-criterion / --from-e2e")

    try:
        rows = read_rows(args.csv)
        if args.from_criterion is not None or args.from_e2e:
            updated = 0
            if args.from_criterion is not None:
                updated += from_criterion(rows, criterion_home(args.from_criterion), args.run)
            if args.from_e2e:
                updated += from_e2e(rows, args.from_e2e, args.run)
            if not updated:
                raise Fail("the run measured none of the CSV's rows; nothing written")
            write_rows(args.csv, rows)
            print(f"{rel(args.csv)}: {updated} of {len(rows)} rows updated")
        svg = render(rows, rel(args.csv))
        if args.check:
            try:
                current = args.svg.read_text(encoding="utf-8")
            except OSError:
                current = ""
            if current != svg:
                sys.stderr.writelines(difflib.unified_diff(
                    current.splitlines(True), svg.splitlines(True),
                    f"{rel(args.svg)} (committed)", f"{rel(args.svg)} (from {rel(args.csv)})"))
                print(f"{rel(args.svg)} is not what {rel(args.csv)} gives; "
                      "run: python3 scripts/bench-chart.py", file=sys.stderr)
                return 1
            print(f"{rel(args.svg)} matches {rel(args.csv)}")
            return 0
        args.svg.write_text(svg, encoding="utf-8")
        print(f"{rel(args.svg)} written from {rel(args.csv)}")
        return 0
    except Fail as e:
        print(f"bench-chart: {e}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
