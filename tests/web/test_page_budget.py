"""Every main screen costs the same number of SQL statements on a small database and on a
realistic one (1,000 dossiers, 10,000 documents), and weighs under 300 KB with its assets.

A page that loads what it lists row by row (N+1) runs more statements on the big database; one
that loads a fixed number of statements per request does not. Counting statements, unlike
timing, does not depend on how busy the machine is: the times are for ``bench/pages.py``.

The small database has fewer dossiers and two papers a dossier; the big one ten. Each page is
requested once to warm up (templates, caches), then counted on the second request.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from html.parser import HTMLParser

import pytest

from tests.web.seed import MAIN_PAGES, MainPage, SeededSite, count_statements, seeded_site

SMALL = {"dossiers": 40, "documents": 80}
BIG = {"dossiers": 1000, "documents": 10_000}
MAX_BYTES = 300 * 1024


@dataclass(frozen=True)
class Measure:
    status: int
    statements: list[str]
    html: bytes


@pytest.fixture(scope="module")
def sites(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, SeededSite]]:
    made: dict[str, SeededSite] = {}
    try:
        for name, volume in (("small", SMALL), ("big", BIG)):
            made[name] = seeded_site(
                tmp_path_factory.mktemp(name) / "data",
                dossiers=volume["dossiers"],
                documents=volume["documents"],
            )
        yield made
    finally:
        for site in made.values():
            site.close()


def measure(site: SeededSite, page: MainPage) -> Measure:
    try:
        site.get(page)  # warm-up: templates compile, the session is resumed once
    except LookupError as exc:
        pytest.fail(f"{page.name}: {exc}")
    with count_statements(site.world.services.engine) as statements:
        resp = site.get(page)
    return Measure(resp.status_code, list(statements), resp.content)


@pytest.mark.parametrize("page", MAIN_PAGES, ids=[p.name for p in MAIN_PAGES])
def test_statements_do_not_grow_with_the_data(sites: dict[str, SeededSite], page: MainPage) -> None:
    small, big = measure(sites["small"], page), measure(sites["big"], page)
    assert big.status == 200, f"{page.path} answered {big.status}: {big.html[:300]!r}"
    assert small.status == 200, f"{page.path} answered {small.status} on the small database"
    assert len(big.statements) == len(small.statements), (
        f"{page.name}: {len(small.statements)} statements on {SMALL}, "
        f"{len(big.statements)} on {BIG}; the big one ran:\n" + "\n".join(big.statements)
    )


@pytest.mark.parametrize("page", MAIN_PAGES, ids=[p.name for p in MAIN_PAGES])
def test_weighs_under_300_kb_with_its_assets(sites: dict[str, SeededSite], page: MainPage) -> None:
    site = sites["big"]
    found = measure(site, page)
    assert found.status == 200, f"{page.path} answered {found.status}"
    html, total = site.weight(page, found.html)
    assert total < MAX_BYTES, f"{page.name}: {total} bytes ({html} of HTML) on {BIG}"


def test_the_seed_is_what_it_says(sites: dict[str, SeededSite]) -> None:
    """The volumes the budget is measured on, and the rows the pages open, exist."""
    big = sites["big"].seeded
    assert (big.dossiers, big.documents) == (BIG["dossiers"], BIG["documents"])
    assert big.counts["documents"] == BIG["documents"]
    assert big.dossier_code and big.document_id
    small = sites["small"].seeded
    assert small.documents == SMALL["documents"]


class _Inputs(HTMLParser):
    """Every form control a person fills in, and the ids that a ``<label for>`` names."""

    def __init__(self) -> None:
        super().__init__()
        self.controls: list[dict[str, str]] = []
        self.labelled: set[str] = set()
        self.depth = 0  # inside a <label>: its controls are labelled by it

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        a = {k: v or "" for k, v in attrs}
        if tag == "label":
            self.depth += 1
            if a.get("for"):
                self.labelled.add(a["for"])
        elif tag in ("input", "select", "textarea"):
            if a.get("type") in ("hidden", "submit", "button", "reset", "image"):
                return
            self.controls.append({**a, "tag": tag, "wrapped": "1" if self.depth else ""})

    def handle_endtag(self, tag: str) -> None:
        if tag == "label" and self.depth:
            self.depth -= 1


@pytest.mark.parametrize("page", MAIN_PAGES, ids=[p.name for p in MAIN_PAGES])
def test_every_input_has_a_label(sites: dict[str, SeededSite], page: MainPage) -> None:
    """A screen reader names each field, and a click on its words focuses it."""
    found = measure(sites["small"], page)
    assert found.status == 200
    parser = _Inputs()
    parser.feed(found.html.decode())
    unnamed = [
        c
        for c in parser.controls
        if not (
            c["wrapped"]
            or c.get("id", "") in parser.labelled
            or c.get("aria-label")
            or c.get("aria-labelledby")
        )
    ]
    assert not unnamed, f"{page.name}: fields without a label: {unnamed}"
