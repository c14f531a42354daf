"""Alembic environment: runs on the connection handed over by :mod:`openmmo.storage.migrate`."""

from __future__ import annotations

from alembic import context

from openmmo.storage.schema import metadata

connection = context.config.attributes.get("connection")
if connection is None:
    raise RuntimeError("run migrations with `openmmo migrate`, not the alembic CLI")
context.configure(connection=connection, target_metadata=metadata, render_as_batch=True)
with context.begin_transaction():
    context.run_migrations()
