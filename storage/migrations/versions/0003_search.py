"""dossier search: folded texts and their full-text index

Revision ID: 0003_search
Revises: 0002_counter
Create Date: 2026-11-28

The full-text objects are written out here as they were created at this revision, not taken
from the search module: the schema this revision makes must not change when that module does.
SQLite gets an external-content FTS5 table kept in step by triggers; PostgreSQL a stored
generated tsvector column with a GIN index. On SQLite a batch_alter_table of search_entries
recreates the table without its triggers: re-create them in that migration.
"""

import sqlalchemy as sa
from alembic import op

from storage.models import UTCDateTime

revision = "0003_search"
down_revision = "0002_counter"
branch_labels = None
depends_on = None

SQLITE_DDL = (
    # External content: the text lives once, in search_entries; triggers keep the index in step.
    """CREATE VIRTUAL TABLE IF NOT EXISTS search_fts USING fts5(
        folded, content='search_entries', content_rowid='id',
        tokenize='unicode61 remove_diacritics 2')""",
    """CREATE TRIGGER IF NOT EXISTS search_entries_ai AFTER INSERT ON search_entries BEGIN
        INSERT INTO search_fts(rowid, folded) VALUES (new.id, new.folded);
    END""",
    """CREATE TRIGGER IF NOT EXISTS search_entries_ad AFTER DELETE ON search_entries BEGIN
        INSERT INTO search_fts(search_fts, rowid, folded) VALUES ('delete', old.id, old.folded);
    END""",
    """CREATE TRIGGER IF NOT EXISTS search_entries_au AFTER UPDATE ON search_entries BEGIN
        INSERT INTO search_fts(search_fts, rowid, folded) VALUES ('delete', old.id, old.folded);
        INSERT INTO search_fts(rowid, folded) VALUES (new.id, new.folded);
    END""",
    "INSERT INTO search_fts(search_fts) VALUES ('rebuild')",
)
SQLITE_DROP = (
    "DROP TRIGGER IF EXISTS search_entries_ai",
    "DROP TRIGGER IF EXISTS search_entries_ad",
    "DROP TRIGGER IF EXISTS search_entries_au",
    "DROP TABLE IF EXISTS search_fts",
)
POSTGRESQL_DDL = (
    # Stored, so ranking and the GIN recheck read the vector instead of re-parsing OCR text.
    # The same tokens as FTS5's unicode61: runs of letters and digits.
    """ALTER TABLE search_entries ADD COLUMN IF NOT EXISTS tsv tsvector
        GENERATED ALWAYS AS (to_tsvector('simple'::regconfig,
            regexp_replace(folded, '[^[:alnum:]]+', ' ', 'g'))) STORED""",
    "CREATE INDEX IF NOT EXISTS ix_search_entries_tsv ON search_entries USING gin (tsv)",
)
POSTGRESQL_DROP = (
    "DROP INDEX IF EXISTS ix_search_entries_tsv",
    "ALTER TABLE search_entries DROP COLUMN IF EXISTS tsv",
)


def _execute(statements: tuple[str, ...]) -> None:
    connection = op.get_bind()
    for statement in statements:
        # Driver SQL: ':alnum:' must not be read as a bind parameter.
        connection.exec_driver_sql(statement)


def upgrade() -> None:
    op.create_table(
        "search_entries",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("dossier_id", sa.String(length=32), nullable=False),
        sa.Column("source", sa.String(length=32), nullable=False),
        sa.Column("ref_id", sa.String(length=64), nullable=False),
        sa.Column("folded", sa.Text(), nullable=False),
        sa.Column("updated_at", UTCDateTime(), nullable=False),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("dossier_id", "source", "ref_id", name="uq_search_entries_ref"),
    )
    dialect = op.get_bind().dialect.name
    ddl = {"sqlite": SQLITE_DDL, "postgresql": POSTGRESQL_DDL}.get(dialect)
    if ddl is None:
        raise NotImplementedError(f"no full-text search on {dialect}")
    _execute(ddl)


def downgrade() -> None:
    dialect = op.get_bind().dialect.name
    _execute({"sqlite": SQLITE_DROP, "postgresql": POSTGRESQL_DROP}.get(dialect, ()))
    op.drop_table("search_entries")
