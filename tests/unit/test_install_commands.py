"""The README's first command (install without the dev group, then run the main job) must find
every program it calls in what that install puts into .venv."""

import re
import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
PROGRAMS = {"poe": "poethepoet", "python": None, "pip": None}  # program -> its package (default: same name)


def _main_command() -> str:
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    block = re.search(r"```bash\n(.*?)```", readme, re.S).group(1)
    return next(line for line in block.splitlines() if line.startswith("scripts/install.sh") and "--dev" not in line)


def test_the_main_command_needs_only_runtime_dependencies():
    command = _main_command()
    assert "run-end-to-end" in command
    runtime = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["project"]["dependencies"]
    names = {re.split(r"[<>=!~\[ ;]", dep, maxsplit=1)[0].lower() for dep in runtime}
    for program in re.findall(r"\.venv/bin/(\w+)", command):
        package = PROGRAMS.get(program, program)
        assert package is None or package in names, f"{program} comes from {package}, which only --dev installs"
