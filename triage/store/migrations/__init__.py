"""Alembic migrations of the crash database (run by ``triage.store.schema``, never by hand)."""
