"""Production settings pass `check --deploy` with no warnings; bad values fail early."""

from __future__ import annotations

import os
import secrets
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def _manage(*args: str, **env: str) -> subprocess.CompletedProcess[str]:
    environment = {key: value for key, value in os.environ.items() if key not in {"DEBUG", "SECRET_KEY"}}
    environment.update(env)
    return subprocess.run(
        [sys.executable, "manage.py", *args],
        cwd=ROOT,
        env=environment,
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_check_deploy_is_clean_with_production_variables():
    result = _manage(
        "check",
        "--deploy",
        "--fail-level",
        "WARNING",
        DEBUG="False",
        SECRET_KEY=secrets.token_urlsafe(64),
        ALLOWED_HOSTS="synthreview.example.org",
        DATABASE_URL=os.environ.get("DATABASE_URL", "postgresql://postgres@127.0.0.1:5432/synthreview"),
    )
    assert result.returncode == 0, result.stderr + result.stdout
    assert "no issues (0 silenced)" in result.stdout


def test_production_refuses_to_start_without_secret_key():
    result = _manage("check", DEBUG="False", ALLOWED_HOSTS="synthreview.example.org")
    assert result.returncode != 0
    assert "SECRET_KEY is required" in result.stderr


def test_a_malformed_boolean_is_named_in_the_error():
    result = _manage("check", DEBUG="maybe")
    assert result.returncode != 0
    assert "DEBUG must be a boolean" in result.stderr


def test_unsupported_database_url_is_refused():
    result = _manage("check", DATABASE_URL="mysql://root@localhost/x")
    assert result.returncode != 0
    assert "DATABASE_URL scheme 'mysql' is not supported" in result.stderr


def test_a_malformed_api_rate_limit_is_named_in_the_error():
    result = _manage("check", API_RATE_LIMIT="lots/min")
    assert result.returncode != 0
    assert "API_RATE_LIMIT must look like 1200/min" in result.stderr


def test_debug_refuses_to_serve_a_host_other_than_this_machine():
    result = _manage("check", ALLOWED_HOSTS="localhost,review.example.org")
    assert result.returncode != 0
    assert "ImproperlyConfigured" in result.stderr
    assert "ALLOWED_HOSTS names review.example.org" in result.stderr and "DEBUG=false" in result.stderr
    wildcard = _manage("check", DEBUG="true", ALLOWED_HOSTS="*")
    assert wildcard.returncode != 0 and "ALLOWED_HOSTS names *" in wildcard.stderr


def test_debug_on_loopback_hosts_starts():
    result = _manage("check", ALLOWED_HOSTS="localhost,127.0.0.1,[::1],::1,app.localhost")
    assert result.returncode == 0, result.stderr
