"""Run the benchmarks and print one table: ``python -m bench.run [--quick] [--only NAME]``.

Every ``bench/bench_*.py`` module exposes ``run(quick: bool) -> list[Figure]``.
"""

from __future__ import annotations

import argparse
import importlib
import os
import pkgutil
import platform
import sys
import time
from pathlib import Path

from bench.common import Figure, table


def modules(only: list[str]) -> list[str]:
    here = Path(__file__).parent
    names = sorted(m.name for m in pkgutil.iter_modules([str(here)]) if m.name.startswith("bench_"))
    if only:
        names = [n for n in names if any(o in n for o in only)]
    return names


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--quick", action="store_true", help="fewer runs, for a smoke check")
    parser.add_argument("--only", action="append", default=[], help="run modules matching this")
    parser.add_argument("--markdown", action="store_true", help="print a Markdown table")
    args = parser.parse_args()
    figures: list[Figure] = []
    for name in modules(args.only):
        started = time.monotonic()
        print(f"# {name} ...", file=sys.stderr, flush=True)
        module = importlib.import_module(f"bench.{name}")
        figures.extend(module.run(args.quick))
        print(f"# {name}: {time.monotonic() - started:.0f}s", file=sys.stderr, flush=True)
    load = ", ".join(f"{x:.2f}" for x in os.getloadavg())
    print(
        f"machine: {platform.node()} {platform.machine()}, {os.cpu_count()} cores,"
        f" Python {platform.python_version()}; {time.strftime('%Y-%m-%d %H:%M %Z')};"
        f" load average at the end {load}"
    )
    print(table(figures, markdown=args.markdown))
    return 0


if __name__ == "__main__":
    sys.exit(main())
