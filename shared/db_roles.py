"""The database role an app connects as: neither a superuser nor an owner.

Checked once at start-up, so a deployment whose `MICRO_<SERVICE>_DATABASE_URL` names the
owner or a superuser stops at once, instead of running with the power to switch the
ledger's append-only triggers off. Membership counts as being: a role that can `SET ROLE`
to the owner has the owner's rights. Migrations run as the owner, from
`MICRO_<SERVICE>_MIGRATION_DATABASE_URL` (shared/migrations.py).
"""

from __future__ import annotations

from shared.db import Connection

# System schemas, and the app's own temporary objects, are not the service's.
_APP_ROLE = """
SELECT current_user AS role, r.rolsuper AS superuser,
       pg_has_role(current_user, d.datdba, 'MEMBER') AS owns_database,
       (SELECT array_agg(n.nspname || '.' || c.relname ORDER BY n.nspname, c.relname)
        FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
        WHERE n.nspname NOT IN ('pg_catalog', 'information_schema')
          AND n.nspname !~ '^pg_(toast|temp_|toast_temp_)'
          AND pg_has_role(current_user, c.relowner, 'MEMBER')) AS owned
FROM pg_roles r, pg_database d
WHERE r.rolname = current_user AND d.datname = current_database()
"""


class RoleError(RuntimeError):
    """The app's database role is a superuser or an owner."""


async def check_app_role(conn: Connection, service: str) -> None:
    row = await conn.fetchrow(_APP_ROLE)
    assert row is not None
    env = f"MICRO_{service.upper()}"
    if row["superuser"]:
        what = "is a superuser"
    elif row["owns_database"]:
        what = "owns the database"
    elif row["owned"]:
        owned = row["owned"]
        what = f"owns {', '.join(owned[:3])}" + (f" and {len(owned) - 3} more" if owned[3:] else "")
    else:
        return
    raise RoleError(
        f"{service}: {env}_DATABASE_URL connects as {row['role']}, which {what}; the app must "
        "connect as a role of its own that is neither superuser nor owner (migrations use "
        f"{env}_MIGRATION_DATABASE_URL, the owner)"
    )
