"""LLM Twin: build an AI twin of an author's writing.

Importing this package (or any module in it) has no side effects: no connection is opened,
no model is loaded and no network is reached until a store, a model or ``get_settings()`` is
first used (the stores once ``llm_engineering.bootstrap.bootstrap()`` has wired them). One
default is set for libraries loaded later: OpenMP threads (torch's) sleep instead of spinning
while they wait (``OMP_WAIT_POLICY=PASSIVE`` unless the environment says otherwise), which keeps
them fast when other work holds a core (docs/inference.md).
"""

import os

os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

__version__ = "0.1.0"
