"""The append-only tables as PostgreSQL's catalog knows them, and what the connected
role could do to them.

A table is append-only when a BEFORE … FOR EACH ROW trigger refuses both UPDATE and
DELETE on it (the audit log, eval-set versions and their members, exports): the
catalog is the list, so a new guarded table needs no edit here. Such a trigger only
holds against a role that can neither disable nor drop it (the table's owner can) nor
TRUNCATE the table (no row trigger sees that); services/runtime_role.py grants the
runtime role exactly that.
"""

from __future__ import annotations

from dataclasses import dataclass

from django.db import connection

# pg_trigger.tgtype bits (PostgreSQL's include/catalog/pg_trigger.h): ROW 1, BEFORE 2, DELETE 8, UPDATE 16.
_GUARDED = """
    SELECT c.relname,
           -- A PL/pgSQL trigger function with no RETURN never lets a row through: every
           -- update is refused (the audit log). One with a RETURN may let some through
           -- (an export moves from queued to finished), so the runtime role keeps UPDATE.
           bool_or(p.prosrc !~* '\\mreturn\\M') AS refuses_every_update,
           pg_has_role(c.relowner, 'MEMBER') AS owned,
           has_table_privilege(c.oid, 'TRUNCATE') AS can_truncate
    FROM pg_trigger t
    JOIN pg_class c ON c.oid = t.tgrelid
    JOIN pg_proc p ON p.oid = t.tgfoid
    WHERE NOT t.tgisinternal
      AND c.relnamespace = current_schema()::regnamespace
      AND t.tgtype & (1 | 2 | 8 | 16) = (1 | 2 | 8 | 16)
    GROUP BY c.oid, c.relname, c.relowner
    ORDER BY c.relname
"""


@dataclass(frozen=True)
class GuardedTable:
    name: str
    refuses_every_update: bool
    # What the connected role (current_user) holds: ownership, directly or through a
    # role it can SET ROLE to (a superuser holds every role), and TRUNCATE.
    owned: bool
    can_truncate: bool

    @property
    def exposed(self) -> bool:
        """The connected role can rewrite the table's history despite its trigger."""
        return self.owned or self.can_truncate


def guarded_tables() -> list[GuardedTable]:
    """The append-only tables in the current schema, with the connected role's hold on
    each; none on a database other than PostgreSQL (it has no such triggers)."""
    if connection.vendor != "postgresql":
        return []
    with connection.cursor() as cursor:
        cursor.execute(_GUARDED)
        return [GuardedTable(*row) for row in cursor.fetchall()]
