"""The page's pure JavaScript modules (static/arena/stream.js: splicing the streamed answers;
format.js: a search's result cards) under Node's built-in test runner: the tests are
tests/arena/js/*.test.mjs."""

import os
import re
import shutil
import subprocess
from pathlib import Path

import pytest

JS_TESTS = Path(__file__).parent / "js"


@pytest.fixture(scope="session")
def node_path() -> str:
    """Node.js (20 or later); required like chromium when ARENA_REQUIRE_BROWSER is set."""
    path = shutil.which("node")
    if not path:
        message = "Node.js is not installed: the JavaScript unit tests need `node --test` (Node 20 or later)"
        if os.environ.get("ARENA_REQUIRE_BROWSER"):
            pytest.fail(message)
        pytest.skip(message)
    return path


def test_stream_splicing_passes_its_node_tests(node_path):
    files = sorted(str(path) for path in JS_TESTS.glob("*.test.mjs"))
    assert files, f"no JavaScript tests in {JS_TESTS}"
    result = subprocess.run(
        [node_path, "--test", "--test-reporter=tap", *files], capture_output=True, text=True, timeout=120,
        cwd=JS_TESTS, env={**os.environ, "NODE_OPTIONS": "", "NO_COLOR": "1"},
    )
    output = result.stdout + result.stderr
    assert result.returncode == 0, output
    passed = re.search(r"^# pass (\d+)$", result.stdout, re.MULTILINE)
    failed = re.search(r"^# fail (\d+)$", result.stdout, re.MULTILINE)
    assert passed and failed, output
    assert int(failed.group(1)) == 0 and int(passed.group(1)) >= 20, output
