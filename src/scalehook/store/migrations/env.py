"""Alembic environment: runs migrations on the connection scalehook hands it."""

from __future__ import annotations

from alembic import context

from scalehook.store.tables import metadata

connection = context.config.attributes.get("connection")
if connection is None:  # pragma: no cover - scalehook always passes its connection
    raise RuntimeError("run migrations through scalehook.store.migrate")

context.configure(
    connection=connection,
    target_metadata=metadata,
    render_as_batch=connection.dialect.name == "sqlite",
)
with context.begin_transaction():
    context.run_migrations()
