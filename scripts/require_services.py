"""Fail loudly, before any test runs, when PostgreSQL or Redis does not answer."""

from __future__ import annotations

import os
import sys

import psycopg
import redis


def main() -> int:
    failures = []
    database_url = os.environ["DATABASE_URL"]
    # The test database is created by pytest; check the server through the maintenance database.
    server_url = database_url.rsplit("/", 1)[0] + "/postgres"
    try:
        with psycopg.connect(server_url, connect_timeout=5) as connection:
            version = connection.execute("SHOW server_version").fetchone()[0]
        print(f"PostgreSQL {version} answers at {server_url}")
    except psycopg.Error as error:
        failures.append(f"PostgreSQL does not answer at {server_url}: {error}")
    for name in ("CELERY_BROKER_URL", "CACHE_URL"):
        url = os.environ[name]
        try:
            redis.Redis.from_url(url, socket_connect_timeout=5).ping()
            print(f"Redis answers at {url}")
        except redis.RedisError as error:
            failures.append(f"Redis does not answer at {url} ({name}): {error}")
    for failure in failures:
        print(f"FATAL: {failure}", file=sys.stderr)
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
