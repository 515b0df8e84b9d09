"""Named leases in the database (the leader's), taken and renewed by one statement.

A lease is held by one instance until it expires; only its holder may renew it, and
anyone may take it once it has expired. Expiry is by the database's clock (``now()``),
so instances whose clocks disagree still agree on who holds it. PostgreSQL only: one
SQLite file has one scalehook, which always leads.
"""

from __future__ import annotations

from sqlalchemy import text

from scalehook.loops.leadership import LeaseHolder
from scalehook.store.database import Database

# Take the lease if it is free, expired or ours (renewing it), in one statement; then
# say who holds it and for how many more seconds. (The second SELECT sees the table as
# it was before this statement: it answers only when the INSERT ... UPDATE did nothing.)
_HOLD = text(
    """
    WITH taken AS (
        INSERT INTO leases AS l (name, holder, expires_at, acquired_at)
        VALUES (:name, :holder, now() + :seconds * interval '1 second', now())
        ON CONFLICT (name) DO UPDATE
            SET holder = EXCLUDED.holder,
                expires_at = EXCLUDED.expires_at,
                acquired_at = CASE WHEN l.holder = EXCLUDED.holder
                                   THEN l.acquired_at ELSE EXCLUDED.acquired_at END
            WHERE l.holder = EXCLUDED.holder OR l.expires_at <= now()
        RETURNING holder, expires_at
    )
    SELECT holder, EXTRACT(EPOCH FROM expires_at - now())::float8 FROM taken
    UNION ALL
    SELECT holder, EXTRACT(EPOCH FROM expires_at - now())::float8 FROM leases
        WHERE name = :name AND NOT EXISTS (SELECT 1 FROM taken)
    """
)
_RELEASE = text(
    "UPDATE leases SET expires_at = now() - interval '1 second' "
    "WHERE name = :name AND holder = :holder"
)


class LeaseRepository:
    def __init__(self, db: Database) -> None:
        self._db = db

    async def hold(self, name: str, holder: str, seconds: float) -> LeaseHolder:
        """Take or renew ``name`` for ``holder`` for ``seconds``; who holds it now."""
        async with self._db.lease_transaction() as tx:
            row = (
                await tx.conn.execute(
                    _HOLD, {"name": name, "holder": holder, "seconds": float(seconds)}
                )
            ).first()
        if row is None:  # taken by another instance in the same instant: ask again
            return LeaseHolder(None, 0.0)
        return LeaseHolder(str(row[0]), max(0.0, float(row[1])))

    async def release(self, name: str, holder: str) -> None:
        """Let go of ``name`` if ``holder`` has it: a successor may take it at once."""
        async with self._db.lease_transaction() as tx:
            await tx.conn.execute(_RELEASE, {"name": name, "holder": holder})
