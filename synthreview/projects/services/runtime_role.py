"""Grant the runtime role, the PostgreSQL role the web app and the workers connect as,
what the app needs and nothing that could rewrite history.

The owner (the role `migrate` runs as) keeps the tables. The runtime role gets, in
the current schema:
- SELECT, INSERT, UPDATE, DELETE on ordinary tables, USAGE and SELECT on sequences;
- on the append-only tables (selectors/runtime_role.py) SELECT and INSERT, plus UPDATE
  where their trigger lets some updates through: no DELETE, and on no table TRUNCATE,
  TRIGGER or REFERENCES;
- the same on tables a later migration creates (ALTER DEFAULT PRIVILEGES), so between a
  migrate and the next grant a new table is writable but never truncatable.

Every statement revokes before it grants, so a rerun (after each migrate) converges on
the same privileges whatever an earlier run or an operator left.
"""

from __future__ import annotations

from dataclasses import dataclass

from django.db import connection, transaction
from psycopg import sql

from synthreview.projects.selectors.runtime_role import guarded_tables

ORDINARY_TABLE_PRIVILEGES = sql.SQL("SELECT, INSERT, UPDATE, DELETE")
SEQUENCE_PRIVILEGES = sql.SQL("USAGE, SELECT")


class RuntimeRoleError(Exception):
    """The role cannot serve as the runtime role, or this database cannot have one."""


@dataclass(frozen=True)
class RuntimeGrant:
    role: str
    owner: str
    schema: str
    tables: int
    # Append-only table → the privileges the runtime role holds on it.
    append_only: dict[str, str]


def runtime_role_grant(*, role: str) -> RuntimeGrant:
    """(Re)grant `role` the runtime privileges on every table and sequence of the current
    schema. Run it as the tables' owner (or a superuser) after every migrate."""
    if connection.vendor != "postgresql":
        raise RuntimeRoleError("A runtime role needs PostgreSQL; this database is " + connection.vendor + ".")
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute(
            "SELECT r.rolsuper OR r.rolcreaterole, current_database(), current_schema(), pg_get_userbyid(c.relowner),"
            " pg_has_role(r.oid, c.relowner, 'MEMBER')"
            " FROM pg_roles r, pg_class c"
            " WHERE r.rolname = %s AND c.oid = to_regclass('django_migrations')",
            [role],
        )
        found = cursor.fetchone()
        if found is None:
            cursor.execute("SELECT 1 FROM pg_roles WHERE rolname = %s", [role])
            if cursor.fetchone() is None:
                raise RuntimeRoleError(f"There is no role {role!r}: CREATE ROLE {role} LOGIN PASSWORD '…' first.")
            raise RuntimeRoleError("The tables are not there yet: run `manage.py migrate` as the owner first.")
        # CREATEROLE counts: such a role can grant itself membership in the owner's role.
        privileged, database, schema, owner, holds_owner = found
        if privileged or holds_owner:
            raise RuntimeRoleError(
                f"{role!r} is a superuser, has CREATEROLE or can act as the tables' owner {owner!r}: it could "
                "disable the append-only triggers. The runtime role must be a plain role that owns nothing."
            )
        target = sql.Identifier(role)
        namespace = sql.Identifier(schema)
        for statement in (
            # TEMPORARY: the embedding writer stages its COPY in a temporary table.
            "GRANT CONNECT, TEMPORARY ON DATABASE {database} TO {role}",
            "GRANT USAGE ON SCHEMA {schema} TO {role}",
            "REVOKE ALL ON ALL TABLES IN SCHEMA {schema} FROM {role}",
            "GRANT {tables} ON ALL TABLES IN SCHEMA {schema} TO {role}",
            "REVOKE ALL ON ALL SEQUENCES IN SCHEMA {schema} FROM {role}",
            "GRANT {sequences} ON ALL SEQUENCES IN SCHEMA {schema} TO {role}",
            "ALTER DEFAULT PRIVILEGES FOR ROLE {owner} IN SCHEMA {schema} REVOKE ALL ON TABLES FROM {role}",
            "ALTER DEFAULT PRIVILEGES FOR ROLE {owner} IN SCHEMA {schema} GRANT {tables} ON TABLES TO {role}",
            "ALTER DEFAULT PRIVILEGES FOR ROLE {owner} IN SCHEMA {schema} REVOKE ALL ON SEQUENCES FROM {role}",
            "ALTER DEFAULT PRIVILEGES FOR ROLE {owner} IN SCHEMA {schema} GRANT {sequences} ON SEQUENCES TO {role}",
        ):
            cursor.execute(
                sql.SQL(statement).format(
                    database=sql.Identifier(database),
                    schema=namespace,
                    role=target,
                    owner=sql.Identifier(owner),
                    tables=ORDINARY_TABLE_PRIVILEGES,
                    sequences=SEQUENCE_PRIVILEGES,
                )
            )
        append_only: dict[str, str] = {}
        for table in guarded_tables():
            withheld = "UPDATE, DELETE" if table.refuses_every_update else "DELETE"
            cursor.execute(
                sql.SQL("REVOKE {withheld} ON TABLE {table} FROM {role}").format(
                    withheld=sql.SQL(withheld), table=sql.Identifier(schema, table.name), role=target
                )
            )
            append_only[table.name] = "SELECT, INSERT" if table.refuses_every_update else "SELECT, INSERT, UPDATE"
        cursor.execute(
            "SELECT count(*) FROM pg_class WHERE relnamespace = current_schema()::regnamespace AND relkind IN ('r', 'p')"
        )
        (tables,) = cursor.fetchone()
    return RuntimeGrant(role=role, owner=owner, schema=schema, tables=tables, append_only=append_only)
