"""Alembic environment: the only way the SQL schema changes (`vidseek` runs them on open).
Imports vidseek.search.storage's schema."""
