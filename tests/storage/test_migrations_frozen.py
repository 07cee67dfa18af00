"""Migrations are frozen: they carry their own DDL and import none of the code above storage.

A revision must make the same schema forever, whatever the domain becomes, so nothing under
``storage/migrations`` may import the domain, the pipeline, the API or the composition root.
The one exception is the environment's ``autogenerate_options``: comparing the database with
the models needs the models, and only ``alembic revision --autogenerate`` and ``alembic check``
call it. The subprocess test proves an upgrade and a downgrade really leave them unimported.
"""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
MIGRATIONS = REPO / "storage" / "migrations"
FORBIDDEN = ("dossiers", "ingest", "api", "wiring")
# (file, function) where importing the domain is allowed: run only when autogenerating.
AUTOGENERATE_ONLY = {("env.py", "autogenerate_options")}


def _forbidden(name: str) -> bool:
    return name.split(".", 1)[0] in FORBIDDEN


def _imported_names(node: ast.AST) -> list[str]:
    """Modules ``node`` imports: import statements and importlib/__import__ with a literal name."""
    if isinstance(node, ast.Import):
        return [alias.name for alias in node.names]
    if isinstance(node, ast.ImportFrom):
        return [node.module] if node.module and node.level == 0 else []
    if isinstance(node, ast.Call) and node.args:
        func = node.func
        called = func.attr if isinstance(func, ast.Attribute) else getattr(func, "id", "")
        first = node.args[0]
        if called in ("import_module", "__import__") and isinstance(first, ast.Constant):
            return [str(first.value)]
    return []


def _domain_imports(source: str, filename: str) -> list[str]:
    """``line: module`` of each forbidden import outside the autogenerate-only functions."""
    found: list[str] = []

    def visit(node: ast.AST, function: str | None) -> None:
        for name in _imported_names(node):
            if _forbidden(name) and (filename, function) not in AUTOGENERATE_ONLY:
                found.append(f"{filename}:{getattr(node, 'lineno', '?')}: {name}")
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
            function = node.name if function is None else function
        for child in ast.iter_child_nodes(node):
            visit(child, function)

    visit(ast.parse(source, filename), None)
    return found


def test_migrations_import_no_domain_code() -> None:
    files = sorted(MIGRATIONS.rglob("*.py"))
    assert any(f.parent.name == "versions" for f in files)
    found = [
        hit
        for path in files
        for hit in _domain_imports(path.read_text("utf-8"), path.relative_to(MIGRATIONS).as_posix())
    ]
    assert not found, "migrations import code above storage:\n" + "\n".join(found)


@pytest.mark.parametrize(
    ("source", "filename"),
    [
        ("import dossiers.models\n", "versions/0099_x.py"),
        ("from ingest.pipeline import run\n", "versions/0099_x.py"),
        ("def upgrade():\n    from api import app\n", "versions/0099_x.py"),
        ("import importlib\nimportlib.import_module('wiring.factory')\n", "versions/0099_x.py"),
        ("import dossiers.models\n", "env.py"),
        ("def run_migrations():\n    import dossiers.models\n", "env.py"),
    ],
)
def test_the_check_sees_domain_imports(source: str, filename: str) -> None:
    assert _domain_imports(source, filename)


def test_the_check_allows_the_autogenerate_branch_and_storage() -> None:
    source = (
        "from storage.models import UTCDateTime\n"
        "def autogenerate_options():\n    import dossiers.models\n"
    )
    assert _domain_imports(source, "env.py") == []
    assert _domain_imports(source, "versions/0099_x.py") == [
        "versions/0099_x.py:3: dossiers.models"
    ]


def test_upgrade_and_downgrade_import_no_domain_code(tmp_path: Path) -> None:
    """In a fresh interpreter (this one has imported everything): storage and its migrations."""
    url = f"sqlite:///{tmp_path / 'ledger.db'}"
    script = f"""
import sys
import storage.db, storage.errors, storage.metrics, storage.models, storage.objects
from alembic import command
url = {url!r}
storage.db.upgrade(url)
command.downgrade(storage.db.alembic_config(url), "base")
print(" ".join(sorted(m for m in sys.modules if m.split(".")[0] in {FORBIDDEN!r})))
"""
    done = subprocess.run(
        [sys.executable, "-c", script], cwd=REPO, capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "", f"imported: {done.stdout.strip()}"
