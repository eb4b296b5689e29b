"""The vendored browser libraries (static/vendor/) are the files their README names, byte for byte."""

import hashlib
import re
from pathlib import Path

VENDOR = Path(__file__).resolve().parents[2] / "static" / "vendor"


def _table() -> dict[str, str]:
    rows = re.findall(r"^\| `([^`]+)`.*\| `([0-9a-f]{64})` \|$", (VENDOR / "README.md").read_text(), re.MULTILINE)
    return dict(rows)


def test_every_vendored_file_matches_its_recorded_sha256():
    table = _table()
    assert set(table) == {"marked/marked.esm.js", "dompurify/purify.es.js"}
    for name, sha256 in table.items():
        assert hashlib.sha256((VENDOR / name).read_bytes()).hexdigest() == sha256, name


def test_every_vendored_script_is_listed_with_its_license():
    scripts = {str(path.relative_to(VENDOR)) for path in VENDOR.rglob("*.js")}
    assert scripts == set(_table())
    for name in scripts:
        assert (VENDOR / name).parent.joinpath("LICENSE").is_file(), name
