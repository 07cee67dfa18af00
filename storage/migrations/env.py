"""Alembic environment: the URL comes from the caller (storage.db.upgrade), never from a file.

Upgrades and downgrades run each revision's own frozen DDL and import no domain code. Only
autogeneration compares the database with the models, so only then are they imported.
"""

from typing import Any

from alembic import context
from sqlalchemy import engine_from_config, pool

config = context.config


def autogenerating() -> bool:
    """Whether this run compares the database with the models.

    From the command line: ``alembic revision --autogenerate`` or ``alembic check``. From
    code (``alembic.command.revision(..., autogenerate=True)``), the caller sets
    ``config.attributes["autogenerate"] = True``.
    """
    opts = config.cmd_opts  # the parsed command line; None when called from code
    if opts is None:
        return bool(config.attributes.get("autogenerate"))
    command = getattr(opts, "cmd", None)  # (function, positional names, keyword names)
    name = getattr(command[0], "__name__", "") if command else ""
    return name == "check" or bool(getattr(opts, "autogenerate", False))


def autogenerate_options() -> dict[str, Any]:
    """The models to compare with, and the full-text objects they cannot describe."""
    import dossiers.audit  # registers audit_events
    import dossiers.models  # noqa: F401 - registers the domain tables
    import storage.metrics  # noqa: F401 - registers metric_counters
    from dossiers.records.search import include_name  # registers search_entries
    from storage.models import Base

    return {"target_metadata": Base.metadata, "include_name": include_name}


def run_migrations() -> None:
    connectable = engine_from_config(
        config.get_section(config.config_ini_section, {}),
        prefix="sqlalchemy.",
        poolclass=pool.NullPool,
    )
    options = autogenerate_options() if autogenerating() else {}
    with connectable.connect() as connection:
        context.configure(
            connection=connection,
            render_as_batch=connection.dialect.name == "sqlite",
            **options,
        )
        with context.begin_transaction():
            context.run_migrations()


run_migrations()
