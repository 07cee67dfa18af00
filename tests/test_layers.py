"""The house's walls, read from the import graph: each package imports only the layers below it,
nothing but the composition root imports the composition root, and no modules import each other
in a circle. Every import counts, also one inside a function or under ``TYPE_CHECKING``: a lazy
import is still a dependency, only a later one.
"""

from __future__ import annotations

import ast
from collections import defaultdict
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]

# Package -> the packages it may import. Top to bottom: the composition root, the HTTP adapter,
# the domain and the pipeline (side by side, joined only by the root's hooks), the technical
# packages, and core (settings, the error base, the log context).
ALLOWED: dict[str, set[str]] = {
    "wiring": {
        "web",
        "api",
        "connect",
        "dossiers",
        "ingest",
        "ocr",
        "signing",
        "storage",
        "paper",
        "core",
    },
    "web": {"api", "connect", "dossiers", "ingest", "signing", "storage", "paper", "core"},
    "api": {"connect", "dossiers", "ingest", "ocr", "signing", "storage", "paper", "core"},
    # What leaves the system (outbox dispatcher, portal, notifications, webhooks) and what
    # comes in from a scanner's folder: over the domain, beside the HTTP adapter.
    "connect": {"dossiers", "ingest", "signing", "storage", "paper", "core"},
    "dossiers": {"signing", "storage", "paper", "core"},
    "ingest": {"ocr", "signing", "storage", "paper", "core"},
    "ocr": {"core"},
    "signing": {"paper", "core"},
    "storage": {"core"},
    "paper": {"core"},
    "core": set(),
}
# Imports that cross a wall on purpose, each with its reason.
EXCEPTIONS = {
    # ``alembic revision --autogenerate`` compares the domain's tables with the database; an
    # upgrade never takes this branch (tests/storage checks the migrations import no domain).
    ("storage.migrations.env", "dossiers"),
}
# Settings are read where configuration becomes objects (the root) and by the HTTP adapter;
# the layers below receive what they need as arguments.
SETTINGS_READERS = {"wiring", "web", "api", "core"}


def _modules() -> dict[str, Path]:
    mods: dict[str, Path] = {}
    for package in ALLOWED:
        for path in (REPO / package).rglob("*.py"):
            parts = list(path.relative_to(REPO).with_suffix("").parts)
            if parts[-1] == "__init__":
                parts = parts[:-1]
            mods[".".join(parts)] = path
    return mods


def _graph() -> dict[str, set[str]]:
    mods = _modules()

    def resolve(name: str) -> str | None:
        while name and name not in mods:
            name = name.rpartition(".")[0]
        return name or None

    graph: dict[str, set[str]] = defaultdict(set)
    for module, path in mods.items():
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Import):
                names = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
                names = [node.module] + [f"{node.module}.{a.name}" for a in node.names]
            else:
                continue
            for name in names:
                target = resolve(name)
                if target and target != module and not module.startswith(target + "."):
                    graph[module].add(target)
    return graph


def _package(module: str) -> str:
    return module.split(".", 1)[0]


def test_each_package_imports_only_the_layers_below_it() -> None:
    crossing = sorted(
        f"{module} imports {target}"
        for module, targets in _graph().items()
        for target in targets
        if _package(target) != _package(module)
        and _package(target) not in ALLOWED[_package(module)]
        and (module, _package(target)) not in EXCEPTIONS
    )
    assert not crossing, "\n".join(crossing)


def test_nothing_below_the_composition_root_imports_it() -> None:
    upward = sorted(
        f"{module} imports {target}"
        for module, targets in _graph().items()
        for target in targets
        if _package(target) == "wiring" and _package(module) != "wiring"
    )
    assert not upward, "\n".join(upward)


def test_settings_are_read_only_by_the_root_and_the_api() -> None:
    readers = sorted(
        module
        for module, targets in _graph().items()
        if "core.settings" in targets and _package(module) not in SETTINGS_READERS
    )
    assert not readers, readers


def _circles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components of more than one module (Tarjan, iteratively)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []
    nodes = sorted(set(graph) | {t for ts in graph.values() for t in ts})
    for root in nodes:
        if root in index:
            continue
        work = [(root, iter(sorted(graph.get(root, ()))))]
        index[root] = low[root] = len(index)
        stack.append(root)
        on_stack.add(root)
        while work:
            node, children = work[-1]
            child = next(children, None)
            if child is not None:
                if child not in index:
                    index[child] = low[child] = len(index)
                    stack.append(child)
                    on_stack.add(child)
                    work.append((child, iter(sorted(graph.get(child, ())))))
                elif child in on_stack:
                    low[node] = min(low[node], index[child])
                continue
            work.pop()
            if work:
                low[work[-1][0]] = min(low[work[-1][0]], low[node])
            if low[node] == index[node]:
                component = []
                while True:
                    member = stack.pop()
                    on_stack.discard(member)
                    component.append(member)
                    if member == node:
                        break
                if len(component) > 1:
                    found.append(sorted(component))
    return found


def test_no_modules_import_each_other_in_a_circle() -> None:
    assert _circles(_graph()) == []


def test_the_circle_finder_finds_a_circle() -> None:
    assert _circles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]
