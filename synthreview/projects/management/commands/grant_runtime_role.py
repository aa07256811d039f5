"""Grant the runtime role (the PostgreSQL role the web app and workers connect as) the
privileges it needs on every table, and none that could rewrite the append-only ones.

Run it as the tables' owner after every `migrate` (README, "A runtime role that
cannot rewrite history"); it is idempotent.
"""

from __future__ import annotations

from django.core.management.base import BaseCommand, CommandError, CommandParser

from synthreview.projects.services.runtime_role import RuntimeRoleError, runtime_role_grant


class Command(BaseCommand):
    help = "Grant ROLE the runtime privileges: read and write, but no TRUNCATE, DDL or rewriting append-only tables."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("role", help="The runtime role, created beforehand with CREATE ROLE … LOGIN.")

    def handle(self, *args: object, role: str, **options: object) -> None:
        try:
            grant = runtime_role_grant(role=role)
        except RuntimeRoleError as error:
            raise CommandError(str(error)) from error
        self.stdout.write(
            f"{grant.role}: read and write on {grant.tables} tables in schema {grant.schema} "
            f"(owner {grant.owner}), and on the tables later migrations create."
        )
        for table, privileges in grant.append_only.items():
            self.stdout.write(f"  append-only {table}: {privileges}")
