"""The layers and the absence of import cycles, as declared in pyproject's
``[tool.importlinter]``: tools > pipelines > steps > the library; inside it entrypoints > application
> infrastructure > model > domain, each importing only what lies below it; and no two sibling
modules importing each other (directly or around a loop), counting imports inside functions too."""

from pathlib import Path

from importlinter.cli import lint_imports

ROOT = Path(__file__).resolve().parents[2]


def test_layer_and_cycle_contracts_hold(capsys, monkeypatch):
    monkeypatch.chdir(ROOT)
    status = lint_imports(config_filename=str(ROOT / "pyproject.toml"), no_cache=True, no_logo=True)
    report = capsys.readouterr().out
    assert status == 0, report
    assert "3 kept, 0 broken" in report
