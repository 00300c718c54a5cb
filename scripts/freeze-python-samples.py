#!/usr/bin/env python3
"""Freezes records written by the original Python sample as wire samples.

The payloads are what the sample's aiokafka producer sends: `json.dumps`
with its custom `JSONEncoder`, no record headers (so no version header) and
no key. Each record becomes one file in the format of `kafka_codec::samples`
(one JSON object: headers, key, payload); `tests/wire_samples.rs` replays
them through today's Rust types.

    python3 scripts/freeze-python-samples.py            # writes the files
    python3 scripts/freeze-python-samples.py --check    # fails if they differ
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
OUT = ROOT / "tests" / "fixtures" / "wire" / "python"
SEED = 20261130


def load_sample():
    spec = importlib.util.spec_from_file_location("sample", ROOT / "tests" / "python" / "sample.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules["sample"] = module
    spec.loader.exec_module(module)
    return module


def sample_file(payload: str) -> str:
    # The layout kafka_codec::samples::Sample::to_json writes.
    return json.dumps({"headers": [], "key": None, "payload": payload}, indent=2, ensure_ascii=False) + "\n"


def files() -> dict[Path, str]:
    sample = load_sample()
    out: dict[Path, str] = {}
    # Every class of the hierarchy, as `Box<dyn Entity>` reads them.
    for n, obj in enumerate(sample.generate(SEED, 8)):
        out[OUT / "entities" / f"{type(obj).__name__}-{n}.json"] = sample_file(sample.encode(obj))
    # Orders only, for the test's version 2 of `Order` that upcasts them.
    orders = [o for o in sample.generate(SEED + 1, 24) if type(o).__name__ == "Order"][:3]
    for n, obj in enumerate(orders):
        out[OUT / "orders" / f"Order-{n}.json"] = sample_file(sample.encode(obj))
    return out


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--check", action="store_true", help="fail if the files differ from what would be written")
    args = ap.parse_args()
    stale = []
    for path, text in files().items():
        if args.check:
            if not path.exists() or path.read_text(encoding="utf-8") != text:
                stale.append(path)
        else:
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(text, encoding="utf-8")
            print(path.relative_to(ROOT))
    if stale:
        for path in stale:
            print(f"stale: {path.relative_to(ROOT)}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
