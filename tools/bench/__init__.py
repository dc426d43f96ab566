"""Benchmarks: ``python -m tools.bench NAME`` (each prints JSON; none is a test).

The real corpora they read live outside the repository, in ``../shared/corpora/`` beside the
checkout; ``ROOT`` and ``HANDBOOK_DUMP`` name them once for every benchmark.
"""

from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
HANDBOOK_DUMP = ROOT.parent / "shared" / "corpora" / "llm-engineers-handbook"
