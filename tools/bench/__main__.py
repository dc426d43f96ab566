"""Benchmarks (not tests): python -m tools.bench NAME [options] prints JSON.

Each benchmark is a module tools/bench/NAME.py with a main(argv) function; python -m tools.bench
NAME --help describes its options.
"""

from __future__ import annotations

import importlib
import sys
from pathlib import Path

from llm_engineering.bootstrap import bootstrap


def main() -> None:
    names = sorted(p.stem for p in Path(__file__).parent.glob("*.py") if not p.stem.startswith("_"))
    if len(sys.argv) < 2 or sys.argv[1] in ("-h", "--help") or sys.argv[1] not in names:
        print(f"usage: python -m tools.bench {{{','.join(names)}}} [options]\n\n{__doc__}")
        raise SystemExit(0 if len(sys.argv) > 1 and sys.argv[1] in ("-h", "--help") else 2)
    bootstrap()  # the stores, opened on first use (in the DATA_DIR a benchmark sets)
    importlib.import_module(f"tools.bench.{sys.argv[1]}").main(sys.argv[2:])


if __name__ == "__main__":
    main()
