"""Alembic environment: always run from ``triage.store.schema`` with an open connection."""

from __future__ import annotations

from alembic import context

from triage.store.models import Base

connection = context.config.attributes["connection"]
context.configure(
    connection=connection,
    target_metadata=Base.metadata,
    # SQLite cannot ALTER most things in place: batch mode copies the table instead.
    render_as_batch=True,
)
with context.begin_transaction():
    context.run_migrations()
