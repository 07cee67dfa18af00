"""Alembic environment: the URL comes from the caller (storage.db.upgrade), never from a file."""

from alembic import context
from sqlalchemy import engine_from_config, pool

import dossiers.audit  # registers audit_events
import dossiers.models  # noqa: F401 - registers the domain tables
import storage.metrics  # noqa: F401 - registers metric_counters
from dossiers.search import include_name
from storage.models import Base

config = context.config
target_metadata = Base.metadata


def run_migrations() -> None:
    connectable = engine_from_config(
        config.get_section(config.config_ini_section, {}),
        prefix="sqlalchemy.",
        poolclass=pool.NullPool,
    )
    with connectable.connect() as connection:
        context.configure(
            connection=connection,
            target_metadata=target_metadata,
            render_as_batch=connection.dialect.name == "sqlite",
            # Full-text objects (FTS5 tables, the tsvector column) live outside the models.
            include_name=include_name,
        )
        with context.begin_transaction():
            context.run_migrations()


run_migrations()
