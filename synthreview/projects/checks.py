"""System checks of the ground floor."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from django.apps import AppConfig
from django.core.checks import CheckMessage, Warning
from django.db import DatabaseError, connections

from synthreview.projects.selectors.runtime_role import guarded_tables


def append_only_tables_exposed(
    app_configs: Sequence[AppConfig] | None, databases: Sequence[str] | None = None, **kwargs: Any
) -> list[CheckMessage]:
    """Warn when the connected role could rewrite the append-only tables: as their
    owner it can disable or drop their triggers, and TRUNCATE empties them without
    firing a row trigger. Tagged `database`, so it runs on `check --database default`
    and before `migrate`, which is expected to run as the owner."""
    if not databases or "default" not in databases or connections["default"].vendor != "postgresql":
        return []
    try:
        exposed = [table for table in guarded_tables() if table.exposed]
    except DatabaseError:
        return []  # an unreachable database is not this check's finding
    if not exposed:
        return []
    names = ", ".join(table.name for table in exposed)
    return [
        Warning(
            f"The database role this app connects as can rewrite the append-only tables ({names}): "
            "it owns them (so it can disable or drop their triggers) or may TRUNCATE them.",
            hint=(
                "Expected while `migrate` runs as the owner. The web app and the workers should connect as a "
                "runtime role: `manage.py grant_runtime_role ROLE` (README, Deployment)."
            ),
            id="synthreview.W001",
        )
    ]
