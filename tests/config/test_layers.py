"""The layering: import-linter's contracts hold, and the diagram in docs/architecture.md shows them."""

import re
import subprocess
import sys
import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def _layers() -> list[str]:
    config = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["importlinter"]
    (contract,) = [c for c in config["contracts"] if c["type"] == "layers"]
    return contract["layers"]


def test_the_layers_forbid_every_cycle_between_the_top_level_packages():
    layers = _layers()
    assert layers == ["config", "training", "analysis", "arena", "modelhub", "workers"]
    answer = subprocess.run([str(Path(sys.executable).parent / "lint-imports")], cwd=ROOT, capture_output=True,
                            text=True)
    assert answer.returncode == 0, answer.stdout + answer.stderr
    assert "0 broken" in answer.stdout


def test_the_architecture_diagram_lists_the_layers_in_order():
    text = (ROOT / "docs" / "architecture.md").read_text()
    diagram = text.split("## Layers", 1)[1].split("```")[1]
    drawn = [match.group(1) for match in re.finditer(r"^(\w+)\s{2,}", diagram, flags=re.MULTILINE)]
    assert drawn == _layers()


def test_the_readme_names_the_layers_in_the_contracts_order():
    """README's layer list follows the import-linter contract (pyproject.toml)."""
    readme = (ROOT / "README.md").read_text()
    start = readme.index("The layers, imports pointing down only")
    section = readme[start:readme.index("More in\n[`docs/architecture.md`]", start)]
    named = [layer for layer in re.findall(r"`(\w+)/`", section) if layer in _layers()]
    assert named == _layers()
