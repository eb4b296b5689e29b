"""The production settings pass Django's deployment checks; the local defaults do not claim to."""

import os
import secrets
import subprocess
import sys

from tests.conftest import ROOT


def _check_deploy(tmp_path, **env) -> subprocess.CompletedProcess:
    process_env = {k: v for k, v in os.environ.items() if k not in ("SECRET_KEY", "ARENA_HTTPS", "DEBUG")}
    process_env.update(ARENA_DATA_DIR=str(tmp_path), **env)
    return subprocess.run(
        [sys.executable, "manage.py", "check", "--deploy", "--fail-level", "WARNING"],
        cwd=ROOT, env=process_env, capture_output=True, text=True, timeout=120,
    )


def test_production_settings_pass_check_deploy(tmp_path):
    result = _check_deploy(
        tmp_path, ARENA_HTTPS="1", SECRET_KEY=secrets.token_urlsafe(50), ALLOWED_HOSTS="arena.example.org"
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "no issues" in result.stdout


def test_local_settings_without_https_are_reported(tmp_path):
    result = _check_deploy(tmp_path)
    assert result.returncode != 0
    assert "SESSION_COOKIE_SECURE" in result.stdout + result.stderr
