#!/usr/bin/env python3
"""Draws the chart of "The race with the peers" (BENCHMARKS.md) from its CSV.

    python3 scripts/peers-chart.py            # docs/peers.csv -> docs/peers.svg
    python3 scripts/peers-chart.py --check    # exit 1 if the committed SVG is not what the CSV gives
    python3 scripts/peers-chart.py --from-runs docs/peers-runs.jsonl --command "..."
                                              # first rebuild the CSV from a run's result lines

benches/peers/run.sh writes one JSON line per process (contender, measure,
records_per_s, peak_rss_kib, ...); --from-runs turns them into one CSV row
per contender, measure and metric, with the best and the median over the
rounds (best: highest records/s, lowest RSS and first-record time).
Python 3 standard library only; the SVG depends on the CSV alone.
"""

import argparse
import csv
import datetime
import io
import json
import statistics
import sys
from pathlib import Path
from xml.sax.saxutils import escape

ROOT = Path(__file__).resolve().parent.parent
CSV = ROOT / "docs" / "peers.csv"
SVG = ROOT / "docs" / "peers.svg"
COLUMNS = ["contender", "measure", "metric", "best", "median", "rounds", "run", "command"]
CONTENDERS = ["kafka-codec", "ruststream", "raw", "aiokafka"]
LABELS = {"kafka-codec": "kafka-codec", "ruststream": "ruststream-rdkafka 0.7",
          "raw": "raw rdkafka + serde_json", "aiokafka": "aiokafka + json (Python)"}
COLORS = {"kafka-codec": "#2e7dd1", "ruststream": "#e08a1e", "raw": "#777", "aiokafka": "#3a9d4a"}
METRICS = {"records_per_s": max, "peak_rss_kib": min, "first_record_s": min}
# The chart's panels: (title, measure, metric, unit divisor, number format).
PANELS = [
    ("Produce, records/s", "produce", "records_per_s", 1, "{:,.0f}"),
    ("Consume, one consumer, records/s", "consume", "records_per_s", 1, "{:,.0f}"),
    ("Consume, group of 3 in one process, records/s", "group3", "records_per_s", 1, "{:,.0f}"),
    ("Peak RSS, one consumer, MiB", "consume", "peak_rss_kib", 1024, "{:,.1f}"),
    ("Peak RSS, group of 3, MiB", "group3", "peak_rss_kib", 1024, "{:,.1f}"),
    ("Peak RSS, producer (holds the records), MiB", "produce", "peak_rss_kib", 1024, "{:,.1f}"),
]
WIDTH, LEFT, PLOT, PITCH, BAR = 820, 230, 400, 20, 13


def from_runs(path, command):
    lines = [json.loads(x) for x in Path(path).read_text(encoding="utf-8").splitlines() if x.strip()]
    groups = {}
    for line in lines:
        for metric in METRICS:
            if line.get(metric) is not None:
                groups.setdefault((line["contender"], line["measure"], metric), []).append(line[metric])
    run = datetime.date.today().isoformat()
    order = {c: i for i, c in enumerate(CONTENDERS)}
    rows = []
    for (who, measure, metric), values in sorted(
            groups.items(), key=lambda kv: (kv[0][1], kv[0][2], order.get(kv[0][0], 99))):
        rows.append(dict(contender=who, measure=measure, metric=metric,
                         best=f"{METRICS[metric](values):.6g}",
                         median=f"{statistics.median(values):.6g}",
                         rounds=len(values), run=run, command=command))
    with open(CSV, "w", newline="", encoding="utf-8") as f:
        w = csv.DictWriter(f, COLUMNS, lineterminator="\n")
        w.writeheader()
        w.writerows(rows)
    print(f"{CSV.relative_to(ROOT)}: {len(rows)} rows from {len(lines)} runs")


def render(rows):
    table = {(r["contender"], r["measure"], r["metric"]): r for r in rows}
    out, y = io.StringIO(), 40
    for title, measure, metric, div, fmt in PANELS:
        bars = [(c, table[(c, measure, metric)]) for c in CONTENDERS if (c, measure, metric) in table]
        if not bars:
            continue
        top = max(float(r["best"]) / div for _, r in bars) or 1
        out.write(f'<text x="{LEFT}" y="{y}" font-weight="bold">{escape(title)}</text>\n')
        y += 10
        for who, r in bars:
            best, median = float(r["best"]) / div, float(r["median"]) / div
            w, m = PLOT * best / top, PLOT * median / top
            out.write(f'<text x="{LEFT - 8}" y="{y + BAR - 3}" text-anchor="end">'
                      f'{escape(LABELS.get(who, who))}</text>\n'
                      f'<rect x="{LEFT}" y="{y}" width="{w:.1f}" height="{BAR}" fill="{COLORS.get(who, "#999")}"/>\n'
                      f'<line x1="{LEFT + m:.1f}" x2="{LEFT + m:.1f}" y1="{y - 2}" y2="{y + BAR + 2}" '
                      f'stroke="#000" stroke-width="1.5"/>\n'
                      f'<text x="{LEFT + max(w, m) + 6:.1f}" y="{y + BAR - 3}">{fmt.format(best)} '
                      f'(median {fmt.format(median)})</text>\n')
            y += PITCH
        y += 22
    rounds = max((int(r["rounds"]) for r in rows), default=0)
    note = (f"Bars: best of {rounds} rounds (records/s: highest; RSS: lowest); tick: median. "
            f"{rows[0]['command'] if rows else ''}, {rows[0]['run'] if rows else ''}")
    head = (f'<svg xmlns="http://www.w3.org/2000/svg" width="{WIDTH}" height="{y + 10}" '
            f'font-family="sans-serif" font-size="12">\n'
            f'<rect width="100%" height="100%" fill="#fff"/>\n'
            f'<text x="{WIDTH / 2}" y="20" text-anchor="middle" font-size="14" font-weight="bold">'
            f'kafka-codec and its peers: same broker, same records</text>\n')
    return head + out.getvalue() + (f'<text x="10" y="{y - 4}" fill="#555" font-size="10">'
                                    f'{escape(note)}</text>\n</svg>\n')


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--check", action="store_true", help="exit 1 if the SVG is stale")
    p.add_argument("--from-runs", metavar="JSONL", help="first rebuild the CSV from result lines")
    p.add_argument("--command", default="benches/peers/run.sh", help="the CSV's command column")
    a = p.parse_args()
    if a.from_runs:
        from_runs(a.from_runs, a.command)
    with open(CSV, newline="", encoding="utf-8") as f:
        svg = render(list(csv.DictReader(f)))
    if a.check:
        current = SVG.read_text(encoding="utf-8") if SVG.exists() else ""
        if current != svg:
            print(f"{SVG.relative_to(ROOT)} is stale; run: python3 scripts/peers-chart.py",
                  file=sys.stderr)
            return 1
        print(f"{SVG.relative_to(ROOT)} matches {CSV.relative_to(ROOT)}")
        return 0
    SVG.write_text(svg, encoding="utf-8")
    print(f"{SVG.relative_to(ROOT)} written from {CSV.relative_to(ROOT)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
